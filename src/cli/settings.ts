import { UsageError } from './errors.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

export interface Settings {
  /** Base URL of the API, without a trailing slash. */
  apiUrl: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token: string | undefined;
}

/**
 * Reads the API URL from `--url`, else `SHIPSHAPE_URL`, else the default, and
 * the token from `SHIPSHAPE_TOKEN`. Throws a UsageError for a URL that is not
 * http or https.
 */
export function resolveSettings(urlOption: string | undefined, env: NodeJS.ProcessEnv = process.env): Settings {
  let source = 'the default';
  let raw = DEFAULT_API_URL;
  if (urlOption !== undefined) {
    source = '--url';
    raw = urlOption;
  } else if (env.SHIPSHAPE_URL) {
    source = 'SHIPSHAPE_URL';
    raw = env.SHIPSHAPE_URL;
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${source} "${raw}" is not a valid URL; use for example ${DEFAULT_API_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source} "${raw}" must start with http:// or https://`);
  }

  return {
    apiUrl: url.href.replace(/\/+$/, ''),
    token: env.SHIPSHAPE_TOKEN || undefined,
  };
}
