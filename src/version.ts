/** Slipway's own version, reported by `GET /v2` and `slipway --version`. Kept equal to package.json by a test. */
export const SLIPWAY_VERSION = '0.1.0';
