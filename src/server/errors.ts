import { Type } from '@sinclair/typebox';

/**
 * Every error code the API returns, with its HTTP status. Clients branch on
 * `code`, never on the message text.
 */
export const apiErrors = {
  VALIDATION_FAILED: { status: 400, description: 'The request does not match the route schema; the message names the field' },
  INVALID_PAYLOAD: { status: 400, description: 'The job payload in `data` does not match the job schema' },
  BAD_REQUEST: { status: 400, description: 'The request is malformed, for example invalid JSON or a bad URL' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body is larger than 64 KiB' },
  NOT_FOUND: { status: 404, description: 'No route matches the method and URL' },
  JOB_NOT_FOUND: { status: 404, description: 'No job definition has this name' },
  JOB_NOT_REQUESTABLE: { status: 400, description: 'The job runs only when Shipshape enqueues it, for example send-email' },
  JOB_RUN_NOT_FOUND: { status: 404, description: 'No run of this job has this id, or it was removed by retention' },
  EMAIL_NOT_FOUND: { status: 404, description: 'No email in email_queue has this id' },
  ALERT_NOT_FOUND: { status: 404, description: 'No alert has this id' },
  BACKUP_NOT_FOUND: { status: 404, description: 'No backup has this id; GET /api/backups lists them' },
  REPORT_NOT_FOUND: { status: 404, description: 'No report has this id' },
  ALERT_STATE_CONFLICT: { status: 409, description: 'The alert is not in a state that allows this change, for example already resolved' },
  SCHEDULE_NOT_FOUND: { status: 404, description: 'No calendar entry has this id; GET /api/schedules lists them' },
  INVALID_SCHEDULE: { status: 400, description: 'The pattern, interval or time zone is invalid or fires more often than SCHEDULE_MIN_INTERVAL_MS' },
  SCHEDULE_RUNNING: { status: 409, description: 'A run of the scheduled job is in progress, so run-now would start a second copy' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The body has a content type the API does not read' },
  UNAUTHORIZED: { status: 401, description: 'The API token is missing, malformed, unknown or revoked; the message names the role the route requires' },
  FORBIDDEN: { status: 403, description: "The token's role is lower than the route or job requires; the message names the role required" },
  TOKEN_NOT_FOUND: { status: 404, description: 'No API token has this name' },
  TOKEN_NAME_TAKEN: { status: 409, description: 'Another API token, revoked or not, has this name' },
  RATE_LIMITED: { status: 429, description: 'The token or client address made more requests than the rate limit allows; Retry-After gives the seconds to wait' },
  INTERNAL: { status: 500, description: 'An unexpected error; details are in the server log under the request id' },
  SERVICE_UNAVAILABLE: { status: 503, description: 'A backing service (Postgres or Redis) is unreachable' },
} as const;

export type ApiErrorCode = keyof typeof apiErrors;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.statusCode = apiErrors[code].status;
  }
}

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorResponse', description: 'Every 4xx and 5xx response has this shape' },
);
