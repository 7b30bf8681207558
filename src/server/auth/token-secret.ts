import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every generated token starts with this, so a leaked one is easy to recognize in a secret scanner. */
export const TOKEN_PREFIX = 'ssk_';
const TOKEN_BYTES = 32;
/** Generated tokens are 4 + 43 characters; the bootstrap token may be up to 256. */
export const MAX_TOKEN_LENGTH = 256;

/** Generates a new API token: 256 random bits, base64url-encoded, after TOKEN_PREFIX. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * Returns the SHA-256 hash of a token, in hex, as the database stores it.
 *
 * A fast hash is right here, unlike for passwords: a generated token carries
 * 256 random bits, so it cannot be found by hashing guesses, and a slow key
 * derivation function (bcrypt, scrypt) would only add work to every cache miss.
 * Being deterministic, the hash is also the lookup key.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Compares a presented token with a configured one in constant time. Both are
 * hashed first, so the comparison gets two 32-byte digests whatever the
 * lengths, and timingSafeEqual takes the same time wherever they differ.
 */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}
