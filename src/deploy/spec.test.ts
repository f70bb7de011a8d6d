import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { allTrafficTo, parseDeploymentSpec, parseSticky, primaryVersion, splitBetween, versionsOf } from './spec.js';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    expect((error as SlipwayError).code).toBe('INVALID_ARGUMENT');
    return (error as Error).message;
  }
  throw new Error('expected a throw');
};

describe('deployment spec', () => {
  it('accepts routes and shadows as CLI strings, objects or lists, and normalises them', () => {
    const fromCli = parseDeploymentSpec({
      model: 'fraud',
      routes: ['1.2.0=90', '1.3.0=10'],
      shadows: ['1.4.0=100'],
      sticky: 'header:X-User-Id',
    });
    expect(fromCli).toEqual({
      model: 'fraud',
      routes: [
        { version: '1.2.0', weight: 90 },
        { version: '1.3.0', weight: 10 },
      ],
      shadows: [{ version: '1.4.0', percent: 100 }],
      sticky: { kind: 'header', name: 'x-user-id' },
      notes: null,
    });
    expect(
      parseDeploymentSpec({
        model: 'fraud',
        routes: { '1.2.0': 90, '1.3.0': '10' },
        shadows: [{ version: '1.4.0', percent: 100 }],
        sticky: 'header:x-user-id',
      }),
    ).toEqual(fromCli);
    expect(versionsOf(fromCli)).toEqual(['1.2.0', '1.3.0', '1.4.0']);
    expect(primaryVersion(fromCli)).toBe('1.2.0');
  });

  it('names what is wrong: weights that do not sum to 100, bad versions, duplicates, bad sticky keys', () => {
    expect(messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['1.2.0=90', '1.3.0=20'] }))).toBe(
      'route weights must sum to 100, got 1.2.0=90 + 1.3.0=20 = 110',
    );
    expect(messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['champion=100'] }))).toContain(
      '"champion" is not a version',
    );
    expect(messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['1.2.0=50', '1.2.0=50'] }))).toContain(
      'listed twice',
    );
    expect(messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['1.2.0=abc'] }))).toContain(
      'weight of 1.2.0 must be a number',
    );
    expect(messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: [] }))).toContain('at least one route');
    expect(messageOf(() => parseDeploymentSpec({ routes: ['1.2.0=100'] }))).toContain('"model"');
    expect(
      messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['1.2.0=100'], shadows: ['1.2.0=10'] })),
    ).toContain('both routed and a shadow');
    expect(
      messageOf(() => parseDeploymentSpec({ model: 'fraud', routes: ['1.2.0=100'], shadows: ['1.3.0=0'] })),
    ).toContain('percent must be in (0, 100]');
    expect(messageOf(() => parseSticky('cookie:session'))).toContain('"header:<name>" or "input:<name>"');
  });

  it('moves traffic between two versions for rollouts and promotions', () => {
    const spec = parseDeploymentSpec({
      model: 'fraud',
      routes: ['1.2.0=100'],
      shadows: ['1.3.0=50'],
      sticky: 'input:customer',
    });
    expect(splitBetween(spec, '1.2.0', '1.3.0', 25).routes).toEqual([
      { version: '1.2.0', weight: 75 },
      { version: '1.3.0', weight: 25 },
    ]);
    expect(splitBetween(spec, '1.2.0', '1.3.0', 25).shadows).toEqual([]);
    expect(splitBetween(spec, '1.2.0', '1.3.0', 100).routes).toEqual([{ version: '1.3.0', weight: 100 }]);
    expect(splitBetween(spec, '1.2.0', '1.3.0', 0).routes).toEqual([{ version: '1.2.0', weight: 100 }]);
    expect(allTrafficTo(spec, '1.3.0')).toEqual({ ...spec, routes: [{ version: '1.3.0', weight: 100 }], shadows: [] });
  });
});
