import { CliError } from './errors.js';
import type { Settings } from './settings.js';

/** How long one HTTP request may take before the CLI gives up on it. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The error body every 4xx and 5xx response of the API has. */
export interface ApiErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The API responded with an error status; `message` is the API's own message when the body has one. */
export class ApiResponseError extends CliError {
  override name = 'ApiResponseError';

  constructor(
    readonly status: number,
    message: string,
    /** The parsed error body, or undefined when the response was not the API's JSON error shape. */
    readonly body: ApiErrorBody | undefined,
  ) {
    super(message);
  }
}

/** The API could not be reached at all: refused, reset or unknown host. */
export class ApiUnreachableError extends CliError {
  override name = 'ApiUnreachableError';
}

/** The API did not respond to one request in time. */
export class RequestTimeoutError extends CliError {
  override name = 'RequestTimeoutError';
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Overrides REQUEST_TIMEOUT_MS for this request. */
  timeoutMs?: number;
}

export interface ApiClient {
  readonly baseUrl: string;
  get<T>(path: string, options?: RequestOptions): Promise<T>;
  post<T>(path: string, options?: RequestOptions): Promise<T>;
}

function isApiErrorBody(value: unknown): value is ApiErrorBody {
  return typeof value === 'object' && value !== null && typeof (value as ApiErrorBody).message === 'string' && typeof (value as ApiErrorBody).code === 'string';
}

/** Finds the system error text (for example `connect ECONNREFUSED 127.0.0.1:3000`) under fetch's generic "fetch failed". */
function networkReason(error: unknown): string {
  let cause: unknown = error instanceof Error ? error.cause : undefined;
  // Node reports a host with several addresses (localhost as ::1 and 127.0.0.1) as an AggregateError with an empty message.
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  if (cause instanceof Error && cause.message) return cause.message;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

function buildUrl(baseUrl: string, path: string, query: RequestOptions['query']): string {
  const url = new URL(`${baseUrl}${path}`);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url.href;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Creates a client for the Shipshape REST API that turns every failure into a CliError with one readable line. */
export function createApiClient(settings: Settings): ApiClient {
  const request = async <T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> => {
    const url = buildUrl(settings.apiUrl, path, options.query);
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (settings.token) headers.authorization = `Bearer ${settings.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
    let body: unknown;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      // The timeout signal also covers reading the body.
      body = await readBody(response);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'TimeoutError') {
        throw new RequestTimeoutError(`the Shipshape API at ${settings.apiUrl} did not respond to ${method} ${path} within ${timeoutMs / 1000} s`);
      }
      throw new ApiUnreachableError(
        `cannot reach the Shipshape API at ${settings.apiUrl} (${networkReason(error)}); start it with npm start or set SHIPSHAPE_URL`,
      );
    }

    if (response.ok) return body as T;

    if (isApiErrorBody(body)) throw new ApiResponseError(response.status, body.message, body);
    const excerpt = typeof body === 'string' ? `: ${body.slice(0, 200)}` : '';
    throw new ApiResponseError(
      response.status,
      `${method} ${url} returned HTTP ${response.status} ${response.statusText}${excerpt}; is SHIPSHAPE_URL the Shipshape API?`,
      undefined,
    );
  };

  return {
    baseUrl: settings.apiUrl,
    get: (path, options) => request('GET', path, options),
    post: (path, options) => request('POST', path, options),
  };
}
