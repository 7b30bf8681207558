import { MAX_TOKEN_LENGTH } from './token-secret.js';

/** Credentials that the Authorization header of a request carries. */
export type Credentials =
  | { kind: 'none' }
  | { kind: 'token'; scheme: 'bearer' | 'basic'; token: string }
  /** The header is present but unusable; `reason` is safe to show, since it never contains the header value. */
  | { kind: 'malformed'; reason: string };

// RFC 6750 token68 characters, which every generated token and every valid bootstrap token uses.
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * Reads `Authorization: Bearer <token>`, and, where `allowBasic` is set,
 * `Authorization: Basic base64(user:token)` with any user name, which is what
 * a browser sends after its login prompt.
 */
export function readCredentials(header: string | undefined, allowBasic: boolean): Credentials {
  if (header === undefined) return { kind: 'none' };
  const match = /^([A-Za-z]+) +(\S*)\s*$/.exec(header);
  if (!match) return { kind: 'malformed', reason: 'the Authorization header must be "Bearer <token>"' };
  const scheme = match[1]!.toLowerCase();
  const value = match[2]!;

  if (scheme === 'bearer') return checked('bearer', value);
  if (scheme === 'basic' && allowBasic) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { kind: 'malformed', reason: 'Basic credentials must be user:token, base64-encoded' };
    return checked('basic', decoded.slice(colon + 1));
  }
  return {
    kind: 'malformed',
    reason: allowBasic ? 'the Authorization scheme must be Bearer or Basic' : 'the Authorization scheme must be Bearer',
  };
}

function checked(scheme: 'bearer' | 'basic', token: string): Credentials {
  if (token.length === 0) return { kind: 'malformed', reason: 'the token is empty' };
  if (token.length > MAX_TOKEN_LENGTH) return { kind: 'malformed', reason: `the token is longer than ${MAX_TOKEN_LENGTH} characters` };
  if (!TOKEN_CHARACTERS.test(token)) return { kind: 'malformed', reason: 'the token contains characters no token has' };
  return { kind: 'token', scheme, token };
}
