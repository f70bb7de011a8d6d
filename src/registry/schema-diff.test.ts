import { describe, expect, it } from 'vitest';
import { DATATYPES } from '../tensor/datatypes.js';
import type { Datatype, Signature, TensorSpec } from '../tensor/datatypes.js';
import { diffSignatures, formatSchemaDiff, isSafeWidening, renderSpec } from './schema-diff.js';

const t = (name: string, datatype: Datatype, shape: number[], optional?: boolean): TensorSpec =>
  optional === undefined ? { name, datatype, shape } : { name, datatype, shape, optional };
const sig = (inputs: TensorSpec[], outputs: TensorSpec[] = []): Signature => ({ inputs, outputs });
const inputs = (before: TensorSpec[], after: TensorSpec[]) => diffSignatures(sig(before), sig(after));
const outputs = (before: TensorSpec[], after: TensorSpec[]) => diffSignatures(sig([], before), sig([], after));

/** The brief's safe-widening table, written out independently of the implementation. */
const SAFE: Record<string, Datatype[]> = {
  INT8: ['INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  UINT8: ['UINT16', 'UINT32', 'UINT64', 'INT16', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT16: ['INT32', 'INT64', 'FP32', 'FP64'],
  UINT16: ['UINT32', 'UINT64', 'INT32', 'INT64', 'FP32', 'FP64'],
  INT32: ['INT64', 'FP64'],
  UINT32: ['UINT64', 'INT64', 'FP64'],
  FP16: ['FP32', 'FP64'],
  FP32: ['FP64'],
};
const PAIRS = DATATYPES.flatMap((from) => DATATYPES.filter((to) => to !== from).map((to) => [from, to] as const));

describe('diffSignatures', () => {
  it('finds nothing between identical signatures, whatever the tensor order', () => {
    const a = sig([t('a', 'FP32', [-1, 3]), t('b', 'INT64', [1], true)], [t('y', 'FP32', [-1])]);
    const b = sig([t('b', 'INT64', [1], true), t('a', 'FP32', [-1, 3])], [t('y', 'FP32', [-1])]);
    expect(diffSignatures(a, a)).toEqual([]);
    expect(diffSignatures(a, b)).toEqual([]);
  });

  describe('removed and added tensors', () => {
    it('an input removed is breaking: clients still send it', () => {
      expect(
        inputs([t('input', 'FP32', [-1, 30]), t('scale', 'FP64', [1], true)], [t('input', 'FP32', [-1, 30])]),
      ).toEqual([
        {
          kind: 'removed',
          side: 'input',
          name: 'scale',
          severity: 'breaking',
          before: 'FP64[1] (optional)',
          after: null,
          message: 'input "scale" was removed: clients still send it and would be rejected',
        },
      ]);
    });

    it('an output removed is breaking: clients read it', () => {
      expect(
        outputs([t('label', 'INT64', [-1]), t('probability', 'FP32', [-1, 2])], [t('probability', 'FP32', [-1, 2])]),
      ).toEqual([
        {
          kind: 'removed',
          side: 'output',
          name: 'label',
          severity: 'breaking',
          before: 'INT64[-1]',
          after: null,
          message: 'output "label" was removed: clients reading it would break',
        },
      ]);
    });

    it('a required input added is breaking', () => {
      expect(
        inputs([t('input', 'FP32', [-1, 30])], [t('input', 'FP32', [-1, 30]), t('mask', 'BOOL', [-1, 30])]),
      ).toEqual([
        {
          kind: 'added',
          side: 'input',
          name: 'mask',
          severity: 'breaking',
          before: null,
          after: 'BOOL[-1,30]',
          message:
            'input "mask" was added as required (BOOL[-1,30]): existing clients do not send it and would be rejected',
        },
      ]);
    });

    it('an optional input added is compatible', () => {
      expect(
        inputs([t('input', 'FP32', [-1, 30])], [t('input', 'FP32', [-1, 30]), t('temperature', 'FP32', [1], true)]),
      ).toEqual([
        {
          kind: 'added',
          side: 'input',
          name: 'temperature',
          severity: 'compatible',
          before: null,
          after: 'FP32[1] (optional)',
          message: 'input "temperature" was added as optional (FP32[1]): existing clients may leave it out',
        },
      ]);
    });

    it('an output added is compatible', () => {
      expect(
        outputs([t('label', 'INT64', [-1])], [t('label', 'INT64', [-1]), t('embedding', 'FP32', [-1, 16])]),
      ).toEqual([
        {
          kind: 'added',
          side: 'output',
          name: 'embedding',
          severity: 'compatible',
          before: null,
          after: 'FP32[-1,16]',
          message: 'output "embedding" was added (FP32[-1,16]): clients that do not read it are unaffected',
        },
      ]);
    });
  });

  describe('rename detection', () => {
    it('reports one breaking rename of an input instead of removed + added', () => {
      expect(inputs([t('input', 'FP32', [-1, 30])], [t('features', 'FP32', [-1, 30])])).toEqual([
        {
          kind: 'renamed',
          side: 'input',
          name: 'input',
          severity: 'breaking',
          before: 'input',
          after: 'features',
          message:
            'input "input" was renamed to "features" (FP32[-1,30]): clients still send "input" and would be rejected',
        },
      ]);
    });

    it('reports a rename of an output', () => {
      expect(outputs([t('label', 'INT64', [-1])], [t('class', 'INT64', [-1])])).toEqual([
        {
          kind: 'renamed',
          side: 'output',
          name: 'label',
          severity: 'breaking',
          before: 'label',
          after: 'class',
          message: 'output "label" was renamed to "class" (INT64[-1]): clients reading "label" would break',
        },
      ]);
    });

    it('is not a rename when datatype or shape differ', () => {
      expect(inputs([t('a', 'FP32', [-1, 30])], [t('b', 'FP64', [-1, 30])]).map((d) => [d.kind, d.name])).toEqual([
        ['removed', 'a'],
        ['added', 'b'],
      ]);
      expect(inputs([t('a', 'FP32', [-1, 30])], [t('b', 'FP32', [-1, 31])]).map((d) => [d.kind, d.name])).toEqual([
        ['removed', 'a'],
        ['added', 'b'],
      ]);
    });

    it('reports removed/added when the match is ambiguous', () => {
      const twoGone = inputs([t('a', 'FP32', [3]), t('b', 'FP32', [3])], [t('c', 'FP32', [3])]);
      expect(twoGone.map((d) => [d.kind, d.name])).toEqual([
        ['removed', 'a'],
        ['removed', 'b'],
        ['added', 'c'],
      ]);
      const twoNew = outputs([t('a', 'FP32', [3])], [t('b', 'FP32', [3]), t('c', 'FP32', [3])]);
      expect(twoNew.map((d) => [d.kind, d.name])).toEqual([
        ['removed', 'a'],
        ['added', 'b'],
        ['added', 'c'],
      ]);
    });

    it('never pairs tensors across sides', () => {
      const diffs = diffSignatures(sig([t('x', 'FP32', [3])], []), sig([], [t('y', 'FP32', [3])]));
      expect(diffs.map((d) => [d.side, d.kind])).toEqual([
        ['input', 'removed'],
        ['output', 'added'],
      ]);
    });
  });

  describe('datatype changes', () => {
    it('explains a safe input widening', () => {
      expect(inputs([t('input', 'FP32', [-1, 30])], [t('input', 'FP64', [-1, 30])])).toEqual([
        {
          kind: 'datatype-changed',
          side: 'input',
          name: 'input',
          severity: 'compatible',
          before: 'FP32[-1,30]',
          after: 'FP64[-1,30]',
          message:
            'input "input": datatype FP32 -> FP64 is a safe widening (every FP32 value is exactly representable in FP64)',
        },
      ]);
    });

    it('explains a breaking input narrowing', () => {
      const [d] = inputs([t('input', 'FP64', [-1, 30])], [t('input', 'FP32', [-1, 30])]);
      expect(d?.severity).toBe('breaking');
      expect(d?.message).toBe(
        'input "input": datatype FP64 -> FP32 is breaking (FP32 cannot hold every FP64 value): clients still send FP64 values',
      );
    });

    it('INT64 -> FP64 is not a safe input widening (precision loss)', () => {
      const [d] = inputs([t('ids', 'INT64', [-1])], [t('ids', 'FP64', [-1])]);
      expect(d?.severity).toBe('breaking');
      expect(d?.message).toBe(
        'input "ids": datatype INT64 -> FP64 is breaking (FP64 has a 53-bit significand, so large INT64 values lose precision): clients still send INT64 values',
      );
    });

    it('explains a safe output narrowing', () => {
      const [d] = outputs([t('score', 'FP64', [-1])], [t('score', 'FP32', [-1])]);
      expect(d?.severity).toBe('compatible');
      expect(d?.message).toBe(
        'output "score": datatype FP64 -> FP32 is a safe narrowing (every FP32 value is exactly representable in FP64, which clients expect)',
      );
    });

    it('explains a breaking output widening', () => {
      const [d] = outputs([t('score', 'FP32', [-1])], [t('score', 'FP64', [-1])]);
      expect(d?.severity).toBe('breaking');
      expect(d?.message).toBe(
        'output "score": datatype FP32 -> FP64 is breaking (FP32 cannot hold every FP64 value): clients still read FP32 values',
      );
    });

    it('says why BOOL/BYTES and float -> integer never convert', () => {
      expect(inputs([t('x', 'BOOL', [1])], [t('x', 'INT32', [1])])[0]?.message).toContain(
        '(BOOL and INT32 are not interchangeable)',
      );
      expect(inputs([t('x', 'BYTES', [1])], [t('x', 'FP32', [1])])[0]?.message).toContain(
        '(BYTES and FP32 are not interchangeable)',
      );
      expect(inputs([t('x', 'FP16', [1])], [t('x', 'INT64', [1])])[0]?.message).toContain(
        '(INT64 cannot hold fractional FP16 values)',
      );
    });

    it.each(PAIRS)('input %s -> %s is compatible exactly when it is in the widening table', (from, to) => {
      const safe = SAFE[from]?.includes(to) ?? false;
      expect(isSafeWidening(from, to)).toBe(safe);
      const diffs = inputs([t('x', from, [2])], [t('x', to, [2])]);
      expect(diffs.map((d) => [d.kind, d.severity])).toEqual([['datatype-changed', safe ? 'compatible' : 'breaking']]);
    });

    it.each(PAIRS)('output %s -> %s is compatible exactly when it is the reverse of a widening', (from, to) => {
      const safe = SAFE[to]?.includes(from) ?? false;
      const diffs = outputs([t('y', from, [2])], [t('y', to, [2])]);
      expect(diffs.map((d) => [d.kind, d.severity])).toEqual([['datatype-changed', safe ? 'compatible' : 'breaking']]);
    });
  });

  describe('shape changes', () => {
    it('a rank change is breaking on either side', () => {
      expect(inputs([t('input', 'FP32', [-1, 30])], [t('input', 'FP32', [-1, 30, 1])])).toEqual([
        {
          kind: 'rank-changed',
          side: 'input',
          name: 'input',
          severity: 'breaking',
          before: 'FP32[-1,30]',
          after: 'FP32[-1,30,1]',
          message:
            'input "input": rank changed 2 -> 3 ([-1,30] -> [-1,30,1]): requests shaped for the old model are rejected',
        },
      ]);
      const [d] = outputs([t('probability', 'FP32', [-1, 2])], [t('probability', 'FP32', [-1])]);
      expect(d?.severity).toBe('breaking');
      expect(d?.message).toBe(
        'output "probability": rank changed 2 -> 1 ([-1,2] -> [-1]): clients reading a rank-2 tensor would break',
      );
    });

    it('input fixed -> other fixed size is breaking and names the axis', () => {
      expect(inputs([t('input', 'FP32', [-1, 30])], [t('input', 'FP32', [-1, 29])])).toEqual([
        {
          kind: 'dimension-changed',
          side: 'input',
          name: 'input',
          severity: 'breaking',
          before: 'FP32[-1,30]',
          after: 'FP32[-1,29]',
          message: 'input "input": dimension 1 changed 30 -> 29: requests shaped for the old model are rejected',
        },
      ]);
    });

    it.each([
      [
        'input',
        [1, 30],
        [-1, 30],
        'compatible',
        'input "x": dimension 0 changed 1 -> variable: the model now accepts any size, so every old request still fits',
      ],
      [
        'input',
        [-1, 30],
        [8, 30],
        'breaking',
        'input "x": dimension 0 changed variable -> 8: requests with any size other than 8 are rejected',
      ],
      [
        'output',
        [-1, 2],
        [1, 2],
        'compatible',
        'output "x": dimension 0 changed variable -> 1: clients already handle any size',
      ],
      [
        'output',
        [-1, 2],
        [-1, -1],
        'breaking',
        'output "x": dimension 1 changed 2 -> variable: clients expecting exactly 2 may receive other sizes',
      ],
      [
        'output',
        [-1, 2],
        [-1, 3],
        'breaking',
        'output "x": dimension 1 changed 2 -> 3: clients expecting exactly 2 would break',
      ],
    ] as const)('%s %j -> %j is %s', (side, from, to, severity, message) => {
      const diff = side === 'input' ? inputs : outputs;
      expect(diff([t('x', 'FP32', [...from])], [t('x', 'FP32', [...to])])).toEqual([
        {
          kind: 'dimension-changed',
          side,
          name: 'x',
          severity,
          before: `FP32[${from.join(',')}]`,
          after: `FP32[${to.join(',')}]`,
          message,
        },
      ]);
    });

    it('reports one difference per changed axis, in axis order', () => {
      const diffs = inputs([t('image', 'UINT8', [1, 3, 224, 224])], [t('image', 'UINT8', [-1, 3, 256, 256])]);
      expect(diffs.map((d) => [d.severity, d.message])).toEqual([
        [
          'compatible',
          'input "image": dimension 0 changed 1 -> variable: the model now accepts any size, so every old request still fits',
        ],
        ['breaking', 'input "image": dimension 2 changed 224 -> 256: requests shaped for the old model are rejected'],
        ['breaking', 'input "image": dimension 3 changed 224 -> 256: requests shaped for the old model are rejected'],
      ]);
    });
  });

  describe('optionality', () => {
    it('input optional -> required is breaking', () => {
      expect(inputs([t('scale', 'FP32', [1], true)], [t('scale', 'FP32', [1])])).toEqual([
        {
          kind: 'optionality-changed',
          side: 'input',
          name: 'scale',
          severity: 'breaking',
          before: 'FP32[1] (optional)',
          after: 'FP32[1]',
          message: 'input "scale" is now required (it was optional): clients that leave it out would be rejected',
        },
      ]);
    });

    it('input required -> optional is compatible', () => {
      const [d] = inputs([t('scale', 'FP32', [1])], [t('scale', 'FP32', [1], true)]);
      expect(d?.severity).toBe('compatible');
      expect(d?.message).toBe('input "scale" is now optional (it was required): every old request still supplies it');
    });

    it('an optional flag on an output means nothing', () => {
      expect(outputs([t('y', 'FP32', [1])], [t('y', 'FP32', [1], true)])).toEqual([]);
    });
  });

  it('orders inputs before outputs, then by name; one tensor keeps datatype before shape before optionality', () => {
    const before = sig(
      [t('zeta', 'FP32', [3]), t('alpha', 'FP32', [-1, 4], true), t('mid', 'INT64', [1])],
      [t('b_out', 'FP32', [1]), t('a_out', 'INT64', [-1])],
    );
    const after = sig(
      [t('beta', 'BOOL', [7], true), t('alpha', 'FP64', [-1, 5]), t('zeta', 'FP32', [3])],
      [t('a_out', 'INT32', [-1]), t('c_out', 'FP32', [1])],
    );
    expect(diffSignatures(before, after).map((d) => `${d.side} ${d.name} ${d.kind}`)).toEqual([
      'input alpha datatype-changed',
      'input alpha dimension-changed',
      'input alpha optionality-changed',
      'input beta added',
      'input mid removed',
      'output a_out datatype-changed',
      'output b_out renamed',
    ]);
  });
});

describe('formatSchemaDiff', () => {
  it('renders a header with counts and one line per difference', () => {
    const before = sig([t('input', 'FP32', [-1, 30])], [t('label', 'INT64', [-1]), t('probability', 'FP32', [-1, 2])]);
    const after = sig([t('input', 'FP64', [-1, 30])], [t('probability', 'FP32', [-1, 2]), t('score', 'FP32', [-1, 1])]);
    expect(formatSchemaDiff(diffSignatures(before, after), { before: '1.2.0', after: 'the pushed model' })).toBe(
      [
        'schema changes from 1.2.0 to the pushed model (1 breaking, 2 compatible):',
        '  compatible input "input": datatype FP32 -> FP64 is a safe widening (every FP32 value is exactly representable in FP64)',
        '  BREAKING output "label" was removed: clients reading it would break',
        '  compatible output "score" was added (FP32[-1,1]): clients that do not read it are unaffected',
      ].join('\n'),
    );
  });

  it('says so when nothing changed', () => {
    expect(formatSchemaDiff([], { before: '1.2.0', after: '1.3.0' })).toBe('no schema changes from 1.2.0 to 1.3.0');
  });
});

describe('renderSpec', () => {
  it('renders datatype, shape and optionality', () => {
    expect(renderSpec(t('x', 'FP32', [-1, 30]))).toBe('FP32[-1,30]');
    expect(renderSpec(t('x', 'BYTES', []))).toBe('BYTES[]');
    expect(renderSpec(t('x', 'INT64', [1], true))).toBe('INT64[1] (optional)');
  });
});
