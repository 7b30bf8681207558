/**
 * Returns whether the platform refuses a JWT under the tokens-valid-after
 * rule, which it applies on every request: a token whose `iat` (seconds since
 * the epoch) is before `tokensValidAfter` is refused. `iat` has whole seconds,
 * so a token issued in the same second as the cutoff but after it is refused
 * too, which errs on the safe side.
 */
export function isTokenRefused(issuedAtSeconds: number, tokensValidAfter: Date | null): boolean {
  if (!tokensValidAfter) return false;
  return issuedAtSeconds * 1000 < Math.ceil(tokensValidAfter.getTime() / 1000) * 1000;
}
