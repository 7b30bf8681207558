import type { Config } from '../../config.js';

/** The text that replaces every secret in a configuration backup. */
export const REDACTED = '[redacted]';

// Name parts of settings whose whole value is secret, such as API_TOKEN or SMTP_PASSWORD.
const SECRET_NAME_PARTS = new Set(['PASSWORD', 'PASS', 'PASSWD', 'PWD', 'SECRET', 'TOKEN', 'KEY', 'APIKEY', 'CREDENTIALS', 'CREDENTIAL', 'PRIVATE', 'AUTH', 'COOKIE', 'SESSION', 'SALT']);

// Query parameters of a URL whose value is secret, such as `?password=` or `&access_token=`.
const SECRET_PARAMETER = /pass|secret|token|key|auth|credential|signature/i;

function isSecretName(name: string): boolean {
  return name
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .some((part) => SECRET_NAME_PARTS.has(part));
}

/** Replaces the password and secret query parameters of a URL; a value that is no URL comes back unchanged. */
export function redactUrlSecrets(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (!url.host && !url.password) return value;
  let changed = false;
  if (url.password) {
    url.password = REDACTED;
    changed = true;
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_PARAMETER.test(name)) {
      url.searchParams.set(name, REDACTED);
      changed = true;
    }
  }
  return changed ? url.toString() : value;
}

/**
 * Returns the configuration as JSON with every secret replaced: whole values of
 * settings named like secrets, and passwords and secret query parameters
 * inside URLs of any setting.
 */
export function redactConfig(config: Config | Readonly<Record<string, unknown>>): Record<string, unknown> {
  const redacted: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config).sort(([a], [b]) => a.localeCompare(b))) {
    if (isSecretName(name)) redacted[name] = REDACTED;
    else if (typeof value === 'string') redacted[name] = redactUrlSecrets(value);
    else redacted[name] = value;
  }
  return redacted;
}
