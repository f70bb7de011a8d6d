import { describe, expect, it } from 'vitest';
import { flattenNested, nestFlat } from './nested-data.js';

const p = 'input "x"';

describe('flattenNested', () => {
  it('returns flat data itself, without copying', () => {
    const data = [1, 2, 3];
    expect(flattenNested(data, p)).toBe(data);
    expect(flattenNested([], p)).toEqual([]);
  });

  it('flattens regular nesting row-major', () => {
    expect(
      flattenNested(
        [
          [1, 2],
          [3, 4],
        ],
        p,
      ),
    ).toEqual([1, 2, 3, 4]);
    expect(
      flattenNested(
        [
          [[1], [2]],
          [[3], [4]],
        ],
        p,
      ),
    ).toEqual([1, 2, 3, 4]);
    expect(flattenNested([[], []], p)).toEqual([]);
  });

  it('names where the data is ragged', () => {
    expect(() =>
      flattenNested(
        [
          [1, 2],
          [3, 4, 5],
        ],
        p,
      ),
    ).toThrow('input "x": data is ragged: data[1] has 3 items but data[0] has 2');
    expect(() => flattenNested([[1, 2], 3], p)).toThrow(
      'input "x": data is ragged: data[1] is not an array but data[0] is',
    );
    expect(() =>
      flattenNested(
        [
          [1, 2],
          [3, [4]],
        ],
        p,
      ),
    ).toThrow('input "x": data is ragged: data[1][1] is an array but data[0][0] is not');
    expect(() =>
      flattenNested(
        [
          [[1], [2]],
          [[3], [4, 5]],
        ],
        p,
      ),
    ).toThrow('input "x": data is ragged: data[1][1] has 2 items but data[0][0] has 1');
  });

  it('refuses nesting deeper than 32 levels without overflowing the stack', () => {
    let ok: unknown = 1;
    for (let i = 0; i < 32; i++) ok = [ok];
    expect(flattenNested(ok as unknown[], p)).toEqual([1]);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => flattenNested(deep as unknown[], p)).toThrow('input "x": data is nested more than 32 levels deep');
  });
});

describe('nestFlat', () => {
  it('nests by shape', () => {
    expect(nestFlat([1, 2, 3, 4, 5, 6], [2, 3])).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(nestFlat([1, 2, 3, 4, 5, 6], [3, 2, 1])).toEqual([
      [[1], [2]],
      [[3], [4]],
      [[5], [6]],
    ]);
    expect(nestFlat([7], [])).toBe(7);
    expect(nestFlat([], [0, 3])).toEqual([]);
    expect(nestFlat([], [2, 0])).toEqual([[], []]);
    expect(nestFlat([1, 2, 3, 4], [2], 2)).toEqual([3, 4]);
  });
});
