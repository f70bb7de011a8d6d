/**
 * Who may import whom under src/ (docs/architecture.md, "Modules and who may import whom"), as data,
 * and a pure checker that lists the imports of one file that break it. src/architecture.test.ts runs
 * it over every built file.
 *
 * A module is the first folder under src/ (`monitor`), or a top-level file (`platform.ts`). Imports
 * inside one module are always allowed; packages and `node:` built-ins are not ours to rule on.
 */
import path from 'node:path';
import ts from 'typescript';

/**
 * What a module may import: the modules it may use whole, or single files (`monitor/events.ts`)
 * where it may use only those. `'anything'` is for the entry files that compose the rest.
 */
export type AllowedImports = 'anything' | readonly string[];

export const IMPORT_RULES: Readonly<Record<string, AllowedImports>> = {
  core: [],
  'version.ts': [],
  tensor: ['core'],
  store: ['core'],
  auth: ['store', 'core'],
  audit: ['store', 'core', 'auth'],
  stats: ['core'],
  io: ['core'],
  registry: ['store', 'tensor', 'core'],
  runtime: ['tensor', 'core'],
  // version.ts: the alert webhook's User-Agent names the release (monitor/alerts/webhook-notifier.ts).
  monitor: ['stats', 'io', 'tensor', 'store', 'core', 'registry', 'features/served-features.ts', 'version.ts'],
  // The skew check reads logged predictions through the prediction store's interface.
  features: ['io', 'store', 'tensor', 'core', 'monitor/prediction-store.ts'],
  batch: ['io', 'registry', 'features', 'store', 'tensor', 'core', 'runtime'],
  deploy: ['stats', 'registry', 'store', 'tensor', 'core', 'monitor/events.ts', 'monitor/experiment-outcomes.ts'],
  // Rewrites and evaluates ONNX files itself (ONNX Runtime directly, like batch/); registers through the registry.
  optimize: ['registry', 'runtime', 'io', 'stats', 'store', 'tensor', 'core'],
  // Continuous training: triggers read monitor/, data through features/ and the prediction log, candidates evaluated by optimize/, released through deploy/.
  pipelines: ['optimize', 'deploy', 'monitor', 'features', 'registry', 'io', 'stats', 'store', 'tensor', 'core'],
  serving: ['runtime', 'registry', 'deploy', 'monitor', 'features', 'stats', 'tensor', 'core', 'version.ts'],
  'platform.ts': [
    'pipelines',
    'optimize',
    'auth',
    'audit',
    'serving',
    'deploy',
    'monitor',
    'features',
    'batch',
    'registry',
    'runtime',
    'stats',
    'io',
    'tensor',
    'store',
    'core',
    'version.ts',
  ],
  server: [
    'pipelines',
    'optimize',
    'auth',
    'audit',
    'serving',
    'platform.ts',
    'deploy',
    'monitor',
    'features',
    'registry',
    'batch',
    'runtime',
    'io',
    'stats',
    'tensor',
    'core',
    'version.ts',
  ],
  cli: [
    'pipelines',
    'optimize',
    'auth',
    'audit',
    'platform.ts',
    'registry',
    'monitor',
    'features',
    'batch',
    'deploy',
    'io',
    'stats',
    'tensor',
    'core',
    'version.ts',
  ],
  'index.ts': 'anything',
  'main.ts': 'anything',
  'demo.ts': 'anything',
};

/** Test support: never built into dist/, so no built file may import it, entry files included. */
const TEST_ONLY_MODULE = 'testing';

export interface ImportViolation {
  /** The importing file's module. */
  readonly from: string;
  /** The imported file's module (`?` for a dynamic import whose path is computed). */
  readonly to: string;
  /** The importing file, as given (e.g. `src/batch/run-batch-job.ts`). */
  readonly file: string;
  readonly line: number;
  /** The import's path as written. */
  readonly specifier: string;
}

/** One import of a relative path, as written. */
export interface RelativeImport {
  readonly specifier: string;
  readonly line: number;
}

/**
 * The module of a path relative to src/ (`batch/run-batch-job.ts` → `batch`, `platform.js` →
 * `platform.ts`; a compiled `.js` suffix names the `.ts` file).
 */
export function moduleOf(srcRelative: string): string {
  const parts = srcRelative.split('/');
  if (parts.length > 1) return parts[0]!;
  return sourceName(srcRelative);
}

/**
 * The imports in `source` that `rules` forbid for `file` (a path whose first `src/` segment is the
 * source root, e.g. `src/registry/foo.ts`). Static `import`/`export ... from`, `import x = require`,
 * dynamic `import('...')` and `import('...')` types are all checked; so are type-only imports,
 * since a type is a dependency too. A file whose module has no rule breaks them all.
 */
export function findForbiddenImports(
  file: string,
  source: string,
  rules: Readonly<Record<string, AllowedImports>> = IMPORT_RULES,
): ImportViolation[] {
  const posixFile = file.split(path.sep).join('/');
  const fromSrc = srcRelative(posixFile);
  if (fromSrc === undefined) throw new Error(`${file} is not under src/`);
  const from = moduleOf(fromSrc);
  const allowed = rules[from];
  const violations: ImportViolation[] = [];
  for (const { specifier, line } of relativeImports(posixFile, source)) {
    const violation = (to: string): ImportViolation => ({ from, to, file, line, specifier });
    if (specifier === '') {
      violations.push(violation('?'));
      continue;
    }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(fromSrc), specifier));
    if (target.startsWith('../')) {
      // Outside src/: not part of the build (tsconfig.build.json's rootDir is src).
      violations.push(violation(target));
      continue;
    }
    const to = moduleOf(target);
    if (to === from) continue;
    if (to === TEST_ONLY_MODULE || allowed === undefined) {
      violations.push(violation(to));
      continue;
    }
    if (allowed === 'anything') continue;
    if (allowed.includes(to) || allowed.includes(sourceName(target))) continue;
    violations.push(violation(to));
  }
  return violations;
}

/** `from → to (file:line)`, the way the architecture test lists a violation. */
export function formatViolation(v: ImportViolation): string {
  return `${v.from} → ${v.to} (${v.file}:${v.line}: '${v.specifier}')`;
}

/**
 * Every import of a relative path in `source`, with its 1-based line. A dynamic import whose path
 * is not a string literal comes back with an empty specifier: it cannot be checked.
 */
export function relativeImports(fileName: string, source: string): RelativeImport[] {
  const sourceFile = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: RelativeImport[] = [];
  const add = (node: ts.Node, specifier: string) => {
    if (specifier !== '' && !specifier.startsWith('.')) return;
    found.push({ specifier, line: sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node, node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      add(node, node.moduleReference.expression.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const argument = node.arguments[0];
      add(node, argument !== undefined && ts.isStringLiteralLike(argument) ? argument.text : '');
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node, node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

/** The part of a posix path after its `src/` segment, or undefined when there is none. */
function srcRelative(posixFile: string): string | undefined {
  const parts = posixFile.split('/');
  const at = parts.lastIndexOf('src');
  return at < 0 || at === parts.length - 1 ? undefined : parts.slice(at + 1).join('/');
}

/** The source file an import names: `x.js` is compiled from `x.ts`, and ESM paths carry `.js`. */
function sourceName(srcRelativePath: string): string {
  if (srcRelativePath.endsWith('.js')) return `${srcRelativePath.slice(0, -'.js'.length)}.ts`;
  return path.posix.extname(srcRelativePath) === '' ? `${srcRelativePath}.ts` : srcRelativePath;
}
