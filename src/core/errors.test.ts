import { describe, expect, it } from 'vitest';
import { ERROR_CODE_INFO, ERROR_CODES, SlipwayError, toSlipwayError } from './errors.js';

describe('SlipwayError', () => {
  it('has a status row for every code', () => {
    expect(Object.keys(ERROR_CODE_INFO).sort()).toEqual([...ERROR_CODES].sort());
  });

  it('maps codes to the statuses Triton and KServe clients expect', () => {
    expect(new SlipwayError('INVALID_ARGUMENT', 'x').httpStatus).toBe(400);
    expect(new SlipwayError('NOT_FOUND', 'x').httpStatus).toBe(404);
    expect(new SlipwayError('UNAVAILABLE', 'x').httpStatus).toBe(503);
    expect(new SlipwayError('CONFLICT', 'x').httpStatus).toBe(409);
    expect(new SlipwayError('NOT_FOUND', 'x').grpcStatus).toBe(5);
    expect(new SlipwayError('INVALID_ARGUMENT', 'x').grpcStatus).toBe(3);
    expect(new SlipwayError('PAYLOAD_TOO_LARGE', 'x').httpStatus).toBe(413);
    expect(new SlipwayError('PAYLOAD_TOO_LARGE', 'x').grpcStatus).toBe(8); // RESOURCE_EXHAUSTED
  });

  it('normalises unknown errors to INTERNAL keeping the cause', () => {
    const cause = new TypeError('boom');
    const e = toSlipwayError(cause);
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toBe('boom');
    expect(e.cause).toBe(cause);
    const same = new SlipwayError('NOT_FOUND', 'm');
    expect(toSlipwayError(same)).toBe(same);
  });
});
