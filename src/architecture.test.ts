import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  IMPORT_RULES,
  findForbiddenImports,
  formatViolation,
  moduleOf,
  relativeImports,
} from './testing/import-rules.js';

const SRC = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(SRC);

/** Every file that is built into dist/ (tsconfig.build.json's excludes), as `src/...` paths. */
function builtFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return full === path.join(SRC, 'testing') ? [] : builtFiles(full);
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts') || entry.name.endsWith('.test-support.ts'))
      return [];
    return [path.relative(ROOT, full).split(path.sep).join('/')];
  });
}

describe('the import rules of docs/architecture.md', () => {
  it('hold for every built file under src/', () => {
    const files = builtFiles(SRC);
    // The walk must have found the tree, or an empty list would pass.
    expect(files).toContain('src/platform.ts');
    expect(files).toContain('src/batch/run-batch-job.ts');
    expect(files.some((f) => f.startsWith('src/testing/'))).toBe(false);
    const violations = files.flatMap((file) => findForbiddenImports(file, readFileSync(path.join(ROOT, file), 'utf8')));
    expect(violations.map(formatViolation)).toEqual([]);
  });

  it('flags a planted forbidden import, naming both modules, the file and the line', () => {
    const source = "import { z } from './local.js';\nimport { x } from '../server/app.js';\n";
    const violations = findForbiddenImports('src/registry/foo.ts', source);
    expect(violations).toEqual([
      { from: 'registry', to: 'server', file: 'src/registry/foo.ts', line: 2, specifier: '../server/app.js' },
    ]);
    expect(violations.map(formatViolation)).toEqual(["registry → server (src/registry/foo.ts:2: '../server/app.js')"]);
  });

  it('flags forbidden re-exports, dynamic imports, import types and type-only imports alike', () => {
    const source = [
      "export { runCli } from '../cli/main.js';",
      "const server = await import('../server/serve.js');",
      "type Platform = import('../platform.js').Platform;",
      "import type { Platform as P } from '../platform.js';",
      'const computed = await import(name);',
    ].join('\n');
    const found = findForbiddenImports('src/batch/foo.ts', source).map((v) => `${v.to}:${v.line}`);
    expect(found).toEqual(['cli:1', 'server:2', 'platform.ts:3', 'platform.ts:4', '?:5']);
  });

  it('passes allowed imports: a listed module, a listed single file, its own module, packages', () => {
    const source = [
      "import { invalid } from '../core/errors.js';",
      "import type { InferenceEvent } from '../monitor/events.js';",
      "import { router } from './router.js';",
      "import { Kysely } from 'kysely';",
      "import path from 'node:path';",
    ].join('\n');
    expect(findForbiddenImports('src/deploy/foo.ts', source)).toEqual([]);
    expect(findForbiddenImports('src/registry/foo.ts', "import { invalid } from '../core/errors.js';")).toEqual([]);
  });

  it('allows only the files named from a module it may not import whole', () => {
    const ok = "import type { InferenceEvent } from '../monitor/events.js';";
    const notListed = "import { Monitor } from '../monitor/monitor.js';";
    expect(findForbiddenImports('src/deploy/a.ts', ok)).toEqual([]);
    expect(findForbiddenImports('src/deploy/a.ts', notListed).map((v) => v.to)).toEqual(['monitor']);
  });

  it('refuses src/testing/ to every built file, entry files included', () => {
    expect(
      findForbiddenImports('src/index.ts', "import { FIXTURES } from './testing/fixtures.js';").map((v) => v.to),
    ).toEqual(['testing']);
    expect(findForbiddenImports('src/index.ts', "import { runCli } from './cli/main.js';")).toEqual([]);
  });

  it('refuses every import of a module that has no rule yet', () => {
    expect(
      findForbiddenImports('src/newmodule/a.ts', "import { invalid } from '../core/errors.js';").map(formatViolation),
    ).toEqual(["newmodule → core (src/newmodule/a.ts:1: '../core/errors.js')"]);
  });

  it('names modules by their first folder, or the top-level file', () => {
    expect([
      moduleOf('batch/run-batch-job.ts'),
      moduleOf('server/grpc/handlers.js'),
      moduleOf('platform.js'),
      moduleOf('version.ts'),
    ]).toEqual(['batch', 'server', 'platform.ts', 'version.ts']);
  });

  it('has a rule for every module and top-level file under src/', () => {
    const modules = new Set(builtFiles(SRC).map((file) => moduleOf(file.slice('src/'.length))));
    expect([...modules].filter((m) => IMPORT_RULES[m] === undefined)).toEqual([]);
  });

  it('reads import lines, skipping comments and strings that only look like imports', () => {
    const source =
      "// import { x } from '../server/app.js';\nconst s = \"import('../cli/main.js')\";\nimport { y } from '../core/errors.js';\n";
    expect(relativeImports('src/a/b.ts', source)).toEqual([{ specifier: '../core/errors.js', line: 3 }]);
  });
});
