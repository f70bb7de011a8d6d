/**
 * Token secrets: `slw_<id>_<43 base64url characters>` (32 random bytes). The id lets the server find
 * the one row to check without scanning; only `scrypt(secret, salt)` is stored, with a salt of its
 * own per token, and compared in constant time.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const PREFIX = 'slw_';
const ID_HEX = 16;
const HASH_BYTES = 32;
/** scrypt's defaults (N = 16384, r = 8, p = 1): ~16 MiB and tens of ms per check, hence the verify cache. */
const SCRYPT_OPTIONS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
/** The id of the token `SLIPWAY_BOOTSTRAP_TOKEN` names: its secret is the operator's, in any format. */
export const BOOTSTRAP_TOKEN_ID = 'bootstrap';

export interface NewSecret {
  readonly id: string;
  readonly secret: string;
}

export function newSecret(): NewSecret {
  const id = randomBytes(ID_HEX / 2).toString('hex');
  return { id, secret: `${PREFIX}${id}_${randomBytes(32).toString('base64url')}` };
}

/**
 * The token id a secret names: the `slw_<id>_` part, or the bootstrap token's id for a secret in any
 * other format (the operator chose it); undefined for text too short to be any secret.
 */
export function tokenIdOf(secret: string): string | undefined {
  if (secret.length < MIN_BOOTSTRAP_LENGTH || secret.length > 512) return undefined;
  if (secret.startsWith(PREFIX) && secret[PREFIX.length + ID_HEX] === '_') {
    const id = secret.slice(PREFIX.length, PREFIX.length + ID_HEX);
    if (/^[0-9a-f]+$/.test(id)) return id;
  }
  return BOOTSTRAP_TOKEN_ID;
}

/** The shortest `SLIPWAY_BOOTSTRAP_TOKEN` accepted: guessable secrets are refused at start. */
export const MIN_BOOTSTRAP_LENGTH = 24;

export interface StoredHash {
  readonly salt: string;
  readonly hash: string;
}

export async function hashSecret(secret: string, salt = randomBytes(16).toString('base64url')): Promise<StoredHash> {
  return { salt, hash: (await derive(secret, salt)).toString('base64url') };
}

export async function secretMatches(secret: string, stored: StoredHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64url');
  const actual = await derive(secret, stored.salt);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A fast fingerprint of a secret, for the in-memory verify cache (never stored, never logged). */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

function derive(secret: string, salt: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, HASH_BYTES, SCRYPT_OPTIONS, (error, key) => (error ? reject(error) : resolve(key))),
  );
}
