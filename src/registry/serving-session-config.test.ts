import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { parseServingConfig } from './serving-config.js';

function problemsOf(value: unknown): string[] {
  try {
    parseServingConfig(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SlipwayError);
    return (error as SlipwayError).details as string[];
  }
  throw new Error('expected the config to be refused');
}

describe('serving config: session and executionProviders', () => {
  it('takes every session setting as an object, a JSON string, or dotted --set keys merged into it', () => {
    const session = {
      intraOpThreads: 2,
      interOpThreads: 3,
      executionMode: 'parallel',
      graphOptimizationLevel: 'extended',
      enableCpuMemArena: false,
      enableMemPattern: true,
    };
    expect(parseServingConfig({ session })).toEqual({ session });
    expect(parseServingConfig({ session: JSON.stringify({ intraOpThreads: 2 }) })).toEqual({
      session: { intraOpThreads: 2 },
    });
    // `slipway config m --set session.intraOpThreads=4 --set session.enableMemPattern=false` over a stored session.
    expect(
      parseServingConfig({
        maxBatchSize: 8,
        session: { intraOpThreads: 2, executionMode: 'parallel' },
        'session.intraOpThreads': '4',
        'session.enableMemPattern': 'false',
      }),
    ).toEqual({ maxBatchSize: 8, session: { intraOpThreads: 4, executionMode: 'parallel', enableMemPattern: false } });
  });

  it('names every session problem at once', () => {
    expect(
      problemsOf({
        session: { intraOpThreads: 0, interOpThreads: 65, executionMode: 'fast', enableMemPattern: 'yes', gpu: 1 },
      }),
    ).toEqual([
      'session.intraOpThreads must be an integer from 1 to 64, got 0',
      'session.interOpThreads must be an integer from 1 to 64, got 65',
      'session.executionMode must be one of sequential, parallel, got "fast"',
      'session.enableMemPattern must be true or false, got "yes"',
      'unknown setting "session.gpu" (known: session.intraOpThreads, session.interOpThreads, session.executionMode, session.graphOptimizationLevel, session.enableCpuMemArena, session.enableMemPattern)',
    ]);
    expect(problemsOf({ 'session.graphOptimizationLevel': 'max' })).toEqual([
      'session.graphOptimizationLevel must be one of disabled, basic, extended, all, got "max"',
    ]);
    expect(problemsOf({ session: '{not json' })[0]).toMatch(/^session must be an object like/);
  });

  it('takes an execution-provider preference as a list or a comma-separated string, cpu last', () => {
    expect(parseServingConfig({ executionProviders: ['tensorrt', 'cuda'] })).toEqual({
      executionProviders: ['tensorrt', 'cuda'],
    });
    expect(parseServingConfig({ executionProviders: 'cuda,cpu' })).toEqual({ executionProviders: ['cuda', 'cpu'] });
    expect(problemsOf({ executionProviders: ['rocm', 'cuda', 'cuda'] })).toEqual([
      'executionProviders[0] must be one of cuda, tensorrt, cpu, got "rocm"',
      'executionProviders names "cuda" more than once',
    ]);
    expect(problemsOf({ executionProviders: ['cpu', 'cuda'] })).toEqual([
      'executionProviders: "cpu" must come last (it is the last resort whether listed or not), got ["cpu","cuda"]',
    ]);
    expect(problemsOf({ executionProviders: [] })).toEqual([
      'executionProviders must be a list of cuda, tensorrt, cpu in preference order, e.g. ["cuda", "cpu"], got []',
    ]);
  });
});
