import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';
import type { Signature, TensorSpec } from '../tensor/datatypes.js';
import { diffSignatures } from './schema-diff.js';
import { parseBumpRequest, planVersion, requiredBump, versionPlanner } from './semver-policy.js';
import type { BumpRequest } from './semver-policy.js';
import type { Bump, VersionRecord } from './types.js';

const t = (name: string, datatype: TensorSpec['datatype'], shape: number[], optional?: boolean): TensorSpec =>
  optional === undefined ? { name, datatype, shape } : { name, datatype, shape, optional };

/** The newest version (1.2.0) of the model every table row pushes against. */
const BASE: Signature = {
  inputs: [t('features', 'FP32', [-1, 30]), t('ids', 'INT64', [-1]), t('scale', 'FP64', [1])],
  outputs: [t('label', 'INT64', [-1]), t('logit', 'FP64', [-1, 2]), t('probability', 'FP32', [-1, 2])],
};
const NEWEST = { version: '1.2.0', signature: BASE };
const TAKEN: ReadonlySet<string> = new Set(['1.0.0', '1.1.0', '1.2.0']);

type Edit = (s: { inputs: TensorSpec[]; outputs: TensorSpec[] }) => void;
function edited(edit: Edit): Signature {
  const copy = { inputs: [...BASE.inputs], outputs: [...BASE.outputs] };
  edit(copy);
  return copy;
}
const swap = (list: TensorSpec[], name: string, spec: TensorSpec | undefined): void => {
  const at = list.findIndex((s) => s.name === name);
  if (spec === undefined) list.splice(at, 1);
  else list[at] = spec;
};

/** Every kind of schema change, with the bump it requires and the exact report line it produces. */
const CHANGES: {
  change: string;
  signature: Signature;
  required: Exclude<Bump, 'patch'> | null;
  line: string | null;
}[] = [
  { change: 'identical', signature: BASE, required: null, line: null },
  {
    change: 'added output',
    required: 'minor',
    signature: edited((s) => s.outputs.push(t('embedding', 'FP32', [-1, 16]))),
    line: '  compatible output "embedding" was added (FP32[-1,16]): clients that do not read it are unaffected',
  },
  {
    change: 'removed output',
    required: 'major',
    signature: edited((s) => swap(s.outputs, 'label', undefined)),
    line: '  BREAKING output "label" was removed: clients reading it would break',
  },
  {
    change: 'removed input',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'scale', undefined)),
    line: '  BREAKING input "scale" was removed: clients still send it and would be rejected',
  },
  {
    change: 'renamed input',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'features', t('inputs', 'FP32', [-1, 30]))),
    line: '  BREAKING input "features" was renamed to "inputs" (FP32[-1,30]): clients still send "features" and would be rejected',
  },
  {
    change: 'input FP32->FP64 widening',
    required: 'minor',
    signature: edited((s) => swap(s.inputs, 'features', t('features', 'FP64', [-1, 30]))),
    line: '  compatible input "features": datatype FP32 -> FP64 is a safe widening (every FP32 value is exactly representable in FP64)',
  },
  {
    change: 'input FP64->FP32 narrowing',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'scale', t('scale', 'FP32', [1]))),
    line: '  BREAKING input "scale": datatype FP64 -> FP32 is breaking (FP32 cannot hold every FP64 value): clients still send FP64 values',
  },
  {
    change: 'output FP32->FP64 widening',
    required: 'major',
    signature: edited((s) => swap(s.outputs, 'probability', t('probability', 'FP64', [-1, 2]))),
    line: '  BREAKING output "probability": datatype FP32 -> FP64 is breaking (FP32 cannot hold every FP64 value): clients still read FP32 values',
  },
  {
    change: 'output FP64->FP32 narrowing',
    required: 'minor',
    signature: edited((s) => swap(s.outputs, 'logit', t('logit', 'FP32', [-1, 2]))),
    line: '  compatible output "logit": datatype FP64 -> FP32 is a safe narrowing (every FP32 value is exactly representable in FP64, which clients expect)',
  },
  {
    change: 'input INT64->FP64',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'ids', t('ids', 'FP64', [-1]))),
    line: '  BREAKING input "ids": datatype INT64 -> FP64 is breaking (FP64 has a 53-bit significand, so large INT64 values lose precision): clients still send INT64 values',
  },
  {
    change: 'changed fixed dim',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'features', t('features', 'FP32', [-1, 29]))),
    line: '  BREAKING input "features": dimension 1 changed 30 -> 29: requests shaped for the old model are rejected',
  },
  {
    change: 'fixed->variable input',
    required: 'minor',
    signature: edited((s) => swap(s.inputs, 'features', t('features', 'FP32', [-1, -1]))),
    line: '  compatible input "features": dimension 1 changed 30 -> variable: the model now accepts any size, so every old request still fits',
  },
  {
    change: 'variable->fixed output',
    required: 'minor',
    signature: edited((s) => swap(s.outputs, 'probability', t('probability', 'FP32', [1, 2]))),
    line: '  compatible output "probability": dimension 0 changed variable -> 1: clients already handle any size',
  },
  {
    change: 'rank change',
    required: 'major',
    signature: edited((s) => swap(s.inputs, 'features', t('features', 'FP32', [-1, 30, 1]))),
    line: '  BREAKING input "features": rank changed 2 -> 3 ([-1,30] -> [-1,30,1]): requests shaped for the old model are rejected',
  },
  {
    change: 'new required input',
    required: 'major',
    signature: edited((s) => s.inputs.push(t('mask', 'BOOL', [-1, 30]))),
    line: '  BREAKING input "mask" was added as required (BOOL[-1,30]): existing clients do not send it and would be rejected',
  },
  {
    change: 'new optional input',
    required: 'minor',
    signature: edited((s) => s.inputs.push(t('temperature', 'FP32', [1], true))),
    line: '  compatible input "temperature" was added as optional (FP32[1]): existing clients may leave it out',
  },
];

type Outcome = { version: string; applied: Bump } | { code: ErrorCode; fragment: string };

const REQUESTS: { label: string; request: BumpRequest }[] = [
  { label: 'auto', request: { kind: 'auto' } },
  { label: 'bump patch', request: { kind: 'bump', bump: 'patch' } },
  { label: 'bump minor', request: { kind: 'bump', bump: 'minor' } },
  { label: 'bump major', request: { kind: 'bump', bump: 'major' } },
  { label: 'exact 1.2.1', request: { kind: 'exact', version: '1.2.1' } },
  { label: 'exact 1.3.0', request: { kind: 'exact', version: '1.3.0' } },
  { label: 'exact 2.0.0', request: { kind: 'exact', version: '2.0.0' } },
];

const NEEDS_MINOR =
  'the schema changed compatibly and needs a minor bump (1.3.0 or later; patch is only for an identical schema):\n';
const NEEDS_MAJOR = 'the schema change is breaking and needs a major bump (2.0.0 or later):\n';

/** Expected outcome for each request (in REQUESTS order) by the bump the schema change requires. */
const OUTCOMES: Record<'none' | 'minor' | 'major', Outcome[]> = {
  none: [
    { version: '1.3.0', applied: 'minor' },
    { version: '1.2.1', applied: 'patch' },
    { version: '1.3.0', applied: 'minor' },
    { version: '2.0.0', applied: 'major' },
    { version: '1.2.1', applied: 'patch' },
    { version: '1.3.0', applied: 'minor' },
    { version: '2.0.0', applied: 'major' },
  ],
  minor: [
    { version: '1.3.0', applied: 'minor' },
    { code: 'CONFLICT', fragment: `a patch bump from 1.2.0 is not enough, but ${NEEDS_MINOR}` },
    { version: '1.3.0', applied: 'minor' },
    { version: '2.0.0', applied: 'major' },
    { code: 'CONFLICT', fragment: `version 1.2.1 is a patch bump from 1.2.0, but ${NEEDS_MINOR}` },
    { version: '1.3.0', applied: 'minor' },
    { version: '2.0.0', applied: 'major' },
  ],
  major: [
    { version: '2.0.0', applied: 'major' },
    { code: 'CONFLICT', fragment: `a patch bump from 1.2.0 is not enough, but ${NEEDS_MAJOR}` },
    { code: 'CONFLICT', fragment: `a minor bump from 1.2.0 is not enough, but ${NEEDS_MAJOR}` },
    { version: '2.0.0', applied: 'major' },
    { code: 'CONFLICT', fragment: `version 1.2.1 is a patch bump from 1.2.0, but ${NEEDS_MAJOR}` },
    { code: 'CONFLICT', fragment: `version 1.3.0 is a minor bump from 1.2.0, but ${NEEDS_MAJOR}` },
    { version: '2.0.0', applied: 'major' },
  ],
};

const TABLE = CHANGES.flatMap((c) =>
  REQUESTS.map((r, i) => ({ ...c, label: r.label, request: r.request, outcome: OUTCOMES[c.required ?? 'none'][i]! })),
);

function refusal(run: () => unknown): SlipwayError {
  try {
    run();
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a SlipwayError, got a result');
}

describe('planVersion: schema change x request from 1.2.0', () => {
  it.each(TABLE)('$change, $label', ({ signature, request, required, line, outcome }) => {
    const plan = () => planVersion({ newest: NEWEST, taken: TAKEN, signature, request });
    if ('version' in outcome) {
      const { version, schemaChange } = plan();
      expect(version).toBe(outcome.version);
      expect(schemaChange).toEqual({
        comparedTo: '1.2.0',
        requiredBump: required,
        appliedBump: outcome.applied,
        differences: diffSignatures(BASE, signature),
      });
      expect(schemaChange.differences).toHaveLength(line === null ? 0 : 1);
      return;
    }
    const error = refusal(plan);
    expect(error.code).toBe(outcome.code);
    expect(error.message).toContain(outcome.fragment);
    // The refusal lists the schema difference and carries it structurally.
    const severity = required === 'major' ? '1 breaking, 0 compatible' : '0 breaking, 1 compatible';
    expect(error.message.endsWith(`schema changes from 1.2.0 to the pushed model (${severity}):\n${line}`)).toBe(true);
    expect(error.details).toEqual({ requiredBump: required, differences: diffSignatures(BASE, signature) });
  });

  it('covers every schema change with every request', () => {
    expect(TABLE).toHaveLength(16 * 7);
  });
});

describe('planVersion: refusal messages in full', () => {
  it('lists every difference and the bump needed', () => {
    const signature = edited((s) => {
      swap(s.inputs, 'features', t('features', 'FP64', [-1, 30]));
      swap(s.outputs, 'label', undefined);
      s.outputs.push(t('score', 'FP32', [-1, 1]));
    });
    const error = refusal(() =>
      planVersion({ newest: NEWEST, taken: TAKEN, signature, request: { kind: 'exact', version: '1.3.0' } }),
    );
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe(
      [
        'version 1.3.0 is a minor bump from 1.2.0, but the schema change is breaking and needs a major bump (2.0.0 or later):',
        'schema changes from 1.2.0 to the pushed model (1 breaking, 2 compatible):',
        '  compatible input "features": datatype FP32 -> FP64 is a safe widening (every FP32 value is exactly representable in FP64)',
        '  BREAKING output "label" was removed: clients reading it would break',
        '  compatible output "score" was added (FP32[-1,1]): clients that do not read it are unaffected',
      ].join('\n'),
    );
  });

  it('suggests the first free number when the required one is taken', () => {
    const signature = edited((s) => swap(s.outputs, 'label', undefined));
    const error = refusal(() =>
      planVersion({
        newest: NEWEST,
        taken: new Set([...TAKEN, '2.0.0']),
        signature,
        request: { kind: 'bump', bump: 'minor' },
      }),
    );
    expect(error.message).toContain('needs a major bump (3.0.0 or later):');
  });
});

describe('planVersion: first version', () => {
  const signature = BASE;
  const initial = { comparedTo: null, requiredBump: null, appliedBump: 'initial', differences: [] };

  it.each<BumpRequest>([
    { kind: 'auto' },
    { kind: 'bump', bump: 'patch' },
    { kind: 'bump', bump: 'minor' },
    { kind: 'bump', bump: 'major' },
  ])('%j gives 1.0.0', (request) => {
    expect(planVersion({ newest: undefined, taken: new Set(), signature, request })).toEqual({
      version: '1.0.0',
      schemaChange: initial,
    });
  });

  it('takes an exact first number as given', () => {
    expect(
      planVersion({ newest: undefined, taken: new Set(), signature, request: { kind: 'exact', version: '0.3.0' } }),
    ).toEqual({ version: '0.3.0', schemaChange: initial });
  });

  it('skips numbers left by archived versions', () => {
    expect(
      planVersion({
        newest: undefined,
        taken: new Set(['1.0.0', '1.1.0', '2.0.0']),
        signature,
        request: { kind: 'auto' },
      }).version,
    ).toBe('3.0.0');
  });

  it('refuses an invalid or taken exact first number', () => {
    const bad = refusal(() =>
      planVersion({ newest: undefined, taken: new Set(), signature, request: { kind: 'exact', version: 'v1.0.0' } }),
    );
    expect(bad.code).toBe('INVALID_ARGUMENT');
    const taken = refusal(() =>
      planVersion({
        newest: undefined,
        taken: new Set(['1.0.0']),
        signature,
        request: { kind: 'exact', version: '1.0.0' },
      }),
    );
    expect(taken.code).toBe('ALREADY_EXISTS');
  });
});

describe('planVersion: taken and exact numbers', () => {
  const compatible = edited((s) => s.outputs.push(t('embedding', 'FP32', [-1, 16])));
  const breaking = edited((s) => swap(s.outputs, 'label', undefined));

  it.each([
    ['auto (minor)', compatible, { kind: 'auto' }, ['1.3.0', '1.4.0'], '1.5.0'],
    ['auto (major)', breaking, { kind: 'auto' }, ['2.0.0'], '3.0.0'],
    ['bump patch', BASE, { kind: 'bump', bump: 'patch' }, ['1.2.1', '1.2.2'], '1.2.3'],
    ['bump major', compatible, { kind: 'bump', bump: 'major' }, ['2.0.0', '3.0.0'], '4.0.0'],
  ] as const)('%s skips taken numbers at the same level', (_label, signature, request, archived, expected) => {
    const taken = new Set([...TAKEN, ...archived]);
    expect(planVersion({ newest: NEWEST, taken, signature, request }).version).toBe(expected);
  });

  it('refuses an exact number that is not greater than the newest', () => {
    const error = refusal(() =>
      planVersion({
        newest: { version: '1.3.0', signature: BASE },
        taken: TAKEN,
        signature: BASE,
        request: { kind: 'exact', version: '1.2.5' },
      }),
    );
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toBe('version 1.2.5 is not greater than the newest version 1.3.0');
  });

  it('refuses an exact number already taken, archived or not', () => {
    const error = refusal(() =>
      planVersion({
        newest: NEWEST,
        taken: new Set([...TAKEN, '1.4.0']),
        signature: compatible,
        request: { kind: 'exact', version: '1.4.0' },
      }),
    );
    expect(error.code).toBe('ALREADY_EXISTS');
    expect(error.message).toBe('version 1.4.0 already exists (version numbers are never reused, even when archived)');
    expect(
      refusal(() =>
        planVersion({ newest: NEWEST, taken: TAKEN, signature: BASE, request: { kind: 'exact', version: '1.2.0' } }),
      ).code,
    ).toBe('ALREADY_EXISTS');
  });

  it.each(['1.2', 'v1.2.3', '1.2.3-rc.1', '1.2.3+build.5', '01.2.3', ' 1.2.3', '', 'latest'])(
    'refuses exact %j as INVALID_ARGUMENT',
    (version) => {
      const error = refusal(() =>
        planVersion({ newest: NEWEST, taken: TAKEN, signature: BASE, request: { kind: 'exact', version } }),
      );
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        `version "${version}" is not a plain semver version X.Y.Z (no "v" prefix, prerelease or build metadata)`,
      );
    },
  );

  it('classifies an exact number by the most significant part that grew', () => {
    const plan = (version: string) =>
      planVersion({ newest: NEWEST, taken: TAKEN, signature: compatible, request: { kind: 'exact', version } });
    expect(plan('1.9.4').schemaChange.appliedBump).toBe('minor');
    expect(plan('3.0.1').schemaChange.appliedBump).toBe('major');
    expect(
      planVersion({ newest: NEWEST, taken: TAKEN, signature: BASE, request: { kind: 'exact', version: '1.2.7' } })
        .schemaChange.appliedBump,
    ).toBe('patch');
  });

  it('compares numerically, not as text', () => {
    const newest = { version: '1.9.0', signature: BASE };
    expect(
      planVersion({
        newest,
        taken: new Set(['1.9.0']),
        signature: compatible,
        request: { kind: 'exact', version: '1.10.0' },
      }).version,
    ).toBe('1.10.0');
    expect(
      planVersion({ newest, taken: new Set(['1.9.0']), signature: compatible, request: { kind: 'auto' } }).version,
    ).toBe('1.10.0');
  });
});

describe('requiredBump', () => {
  it('is major for any breaking difference, minor for compatible ones, null for none', () => {
    const compatible = diffSignatures(
      BASE,
      edited((s) => s.outputs.push(t('e', 'FP32', [1]))),
    );
    const mixed = diffSignatures(
      BASE,
      edited((s) => {
        s.outputs.push(t('e', 'FP32', [1]));
        swap(s.inputs, 'ids', undefined);
      }),
    );
    expect(requiredBump([])).toBeNull();
    expect(requiredBump(compatible)).toBe('minor');
    expect(requiredBump(mixed)).toBe('major');
  });
});

describe('versionPlanner', () => {
  it('adapts planVersion to the store', () => {
    const plan = versionPlanner({ signature: BASE, request: { kind: 'auto' } });
    const newest = { version: '1.2.0', signature: BASE } as VersionRecord;
    expect(plan(newest, TAKEN).version).toBe('1.3.0');
    expect(plan(undefined, new Set()).version).toBe('1.0.0');
  });
});

describe('parseBumpRequest', () => {
  it.each([
    [{}, { kind: 'auto' }],
    [{ bump: 'auto' }, { kind: 'auto' }],
    [{ bump: 'patch' }, { kind: 'bump', bump: 'patch' }],
    [{ bump: 'minor' }, { kind: 'bump', bump: 'minor' }],
    [{ bump: 'major' }, { kind: 'bump', bump: 'major' }],
    [{ version: '2.0.0' }, { kind: 'exact', version: '2.0.0' }],
  ])('%j -> %j', (input, expected) => {
    expect(parseBumpRequest(input)).toEqual(expected);
  });

  it.each([
    [{ bump: 'minor', version: '2.0.0' }, 'give either a bump ("minor") or an exact version ("2.0.0"), not both'],
    [{ bump: 'huge' }, 'bump must be one of auto, major, minor, patch (got "huge")'],
    [{ bump: 'MAJOR' }, 'bump must be one of auto, major, minor, patch (got "MAJOR")'],
    [
      { version: 'v2.0.0' },
      'version "v2.0.0" is not a plain semver version X.Y.Z (no "v" prefix, prerelease or build metadata)',
    ],
  ])('%j is INVALID_ARGUMENT', (input, message) => {
    const error = refusal(() => parseBumpRequest(input));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(message);
  });
});
