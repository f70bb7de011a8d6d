import { describe, expect, it } from 'vitest';
import { responseCoding } from './response-encoding.js';

describe('responseCoding (Accept-Encoding of an inference request)', () => {
  it('picks gzip or deflate by q, gzip at equal q, nothing for q=0 or other codings', () => {
    expect(responseCoding(undefined)).toBeUndefined();
    expect(responseCoding('gzip')).toBe('gzip');
    expect(responseCoding('deflate')).toBe('deflate');
    expect(responseCoding('deflate, gzip')).toBe('gzip');
    expect(responseCoding('gzip;q=0.5, deflate')).toBe('deflate');
    expect(responseCoding('gzip;q=0, deflate;q=0')).toBeUndefined();
    expect(responseCoding('br, zstd')).toBeUndefined();
    expect(responseCoding('identity')).toBeUndefined();
    expect(responseCoding(['br', 'x-gzip;q=0.8'])).toBe('gzip');
  });
});
