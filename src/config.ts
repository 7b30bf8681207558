import { envSchema } from 'env-schema';
import { Type, type Static } from '@sinclair/typebox';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Every setting Shipshape reads from the environment. The schema is the only
 * description of a setting: its type, default and limits; the `Config` type is
 * derived from it.
 */
export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({
    default: 'postgres://localhost:5432/shipshape',
    pattern: '^postgres(ql)?://',
    description: 'PostgreSQL connection URL; the database is created at migrate if missing',
  }),
  REDIS_URL: Type.String({
    default: 'redis://127.0.0.1:6379',
    pattern: '^rediss?://',
    description: 'Redis connection URL (Redis 6.2 or newer)',
  }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'API listen address' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'API listen port' }),
  QUEUE_PREFIX: Type.String({
    default: 'shipshape',
    pattern: '^[A-Za-z0-9_{}-]+$',
    description: 'BullMQ key prefix; installations that share one Redis need different prefixes',
  }),
  CACHE_PREFIX: Type.String({
    default: 'cache:',
    minLength: 1,
    description:
      'Redis key prefix of the platform cache; clear-cache deletes every key under it, so it must not overlap QUEUE_PREFIX',
  }),
  API_CACHE_PREFIX: Type.String({
    default: 'cache:api:',
    minLength: 1,
    description: 'Redis key prefix of the API response cache, which clear-api-cache deletes; must not overlap QUEUE_PREFIX',
  }),
  CACHE_TTL_SECONDS: Type.Integer({
    default: 3600,
    minimum: 1,
    maximum: 31_536_000,
    description: 'Time to live, in seconds, of the aggregates rebuild-cache writes',
  }),
  SMTP_URL: Type.Optional(
    Type.String({ pattern: '^smtps?://', description: 'SMTP server URL; unset writes .eml files to var/outbox' }),
  ),
  MAIL_FROM: Type.String({
    default: 'Shipshape <shipshape@localhost>',
    minLength: 3,
    description: 'From address of every email Shipshape sends',
  }),
  ALERT_EMAIL_TO: Type.String({
    default: 'ops@localhost',
    minLength: 3,
    description: 'Recipient of alert emails, comma-separated',
  }),
  ALERT_HIGH_WINDOW_MINUTES: Type.Integer({
    default: 15,
    minimum: 1,
    maximum: 1440,
    description: 'High alerts are grouped into one email per window of this many minutes',
  }),
  ALERT_MEDIUM_WINDOW_MINUTES: Type.Integer({
    default: 60,
    minimum: 1,
    maximum: 1440,
    description: 'Medium alerts are grouped into one email per window of this many minutes',
  }),
  ALERT_SUMMARY_HOUR: Type.Integer({
    default: 8,
    minimum: 0,
    maximum: 23,
    description: 'Hour of the day (UTC) when the daily summary of low alerts is sent',
  }),
  ALERT_ESCALATION: Type.String({
    default: 'oncall@localhost:0,techlead@localhost:15,cto@localhost:30',
    pattern: '^[^\\s,:]+@[^\\s,:]+:\\d+(,[^\\s,:]+@[^\\s,:]+:\\d+)*$',
    description:
      'Escalation path of critical alerts: address:minutes pairs, comma-separated; each level is emailed when the alert is still unacknowledged that many minutes after the previous one',
  }),
  OUTBOX_DIR: Type.String({ default: 'var/outbox', minLength: 1, description: 'Folder for .eml files when SMTP_URL is unset' }),
  EMAIL_ATTEMPTS: Type.Integer({
    default: 5,
    minimum: 1,
    maximum: 50,
    description: 'Send attempts per email job before it fails; process-email-queue starts a new round later',
  }),
  EMAIL_BACKOFF_MS: Type.Integer({
    default: 30_000,
    minimum: 0,
    maximum: 3_600_000,
    description: 'Delay before the second send attempt; each further attempt waits twice as long',
  }),
  EMAIL_LEASE_SECONDS: Type.Integer({
    default: 600,
    minimum: 10,
    maximum: 86_400,
    description: 'A message left in sending this long without an outcome counts as stuck',
  }),
  STORAGE_DIR: Type.String({ default: 'var/storage', minLength: 1, description: 'File storage folder' }),
  BACKUP_DIR: Type.String({ default: 'var/backups', minLength: 1, description: 'Backup folder' }),
  BACKUP_KEEP_DAILY: Type.Integer({
    default: 7,
    minimum: 1,
    maximum: 3650,
    description: 'Daily and manual backups kept (newest first), not counting failed ones or ones that failed verification or test restore; pre-restore backups are counted apart with the same limit',
  }),
  BACKUP_KEEP_MONTHLY: Type.Integer({
    default: 12,
    minimum: 1,
    maximum: 1200,
    description: 'Monthly backups (from full-backup) kept, newest first, not counting failed ones or ones that failed verification or test restore',
  }),
  BACKUP_SIZE_TOLERANCE: Type.Number({
    default: 0.5,
    minimum: 0.01,
    maximum: 100,
    description:
      'verify-backup fails a dump whose size differs from the median of recent completed dumps by more than this fraction of it',
  }),
  BACKUP_MAX_AGE_HOURS: Type.Integer({
    default: 26,
    minimum: 1,
    maximum: 8760,
    description: 'verify-backup fails when the newest daily or manual backup started longer ago than this',
  }),
  RESTORE_TIMEOUT_MS: Type.Integer({
    default: 4 * 3_600_000,
    minimum: 1000,
    maximum: 7 * 86_400_000,
    description: 'restore-db kills psql and pg_restore and fails when loading a backup takes longer than this, in milliseconds',
  }),
  RESTORE_LOCK_TIMEOUT_MS: Type.Integer({
    default: 30_000,
    minimum: 100,
    maximum: 3_600_000,
    description: "restore-db's lock_timeout, in milliseconds, for the TRUNCATE of the platform tables; the restore fails when another session holds a lock longer",
  }),
  PG_BIN_DIR: Type.Optional(
    Type.String({ minLength: 1, description: 'Folder of pg_dump, pg_restore and psql; unset searches PATH' }),
  ),
  LOG_DIR: Type.String({
    default: 'var/log',
    minLength: 1,
    description: 'Folder of the log files that storage-cleanup compresses',
  }),
  STORAGE_TEMP_MAX_AGE_HOURS: Type.Integer({
    default: 24,
    minimum: 1,
    maximum: 87_600,
    description: 'storage-cleanup deletes files under STORAGE_DIR/tmp older than this many hours',
  }),
  STORAGE_ORPHAN_GRACE_HOURS: Type.Integer({
    default: 72,
    minimum: 1,
    maximum: 87_600,
    description: 'storage-cleanup deletes a file under STORAGE_DIR/uploads that no uploads row references once it is this many hours old',
  }),
  CERTIFICATE_RETENTION_DAYS: Type.Integer({
    default: 1825,
    minimum: 1,
    maximum: 36_500,
    description: 'storage-cleanup moves certificate files issued more than this many days ago to STORAGE_DIR/archive/certificates',
  }),
  LOG_COMPRESS_AFTER_DAYS: Type.Integer({
    default: 7,
    minimum: 1,
    maximum: 36_500,
    description: 'storage-cleanup gzips log files in LOG_DIR not modified for this many days',
  }),
  CERT_CHECK_HOSTS: Type.String({
    default: '',
    pattern: '^\\s*([^\\s;,]+:\\d{1,5}(,[^\\s;,:]+)?([\\s;]+|$))*$',
    description:
      'TLS endpoints certificate-check connects to, separated by spaces or semicolons: host:port, or host:port,servername to send another SNI name',
  }),
  CERT_CHECK_FILES: Type.String({
    default: '',
    description: 'PEM certificate files certificate-check reads, separated by semicolons',
  }),
  CERT_WARN_DAYS: Type.Integer({
    default: 30,
    minimum: 1,
    maximum: 3650,
    description: 'certificate-check raises a high alert for a certificate that expires within this many days',
  }),
  CERT_CRITICAL_DAYS: Type.Integer({
    default: 7,
    minimum: 0,
    maximum: 3650,
    description: 'certificate-check raises a critical alert for a certificate that expires within this many days',
  }),
  CERT_CHECK_TIMEOUT_MS: Type.Integer({
    default: 10_000,
    minimum: 100,
    maximum: 120_000,
    description: 'Connect and handshake timeout of each certificate-check connection, in milliseconds',
  }),
  NPM_REGISTRY: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'Registry URL dependency-audit passes to npm as npm_config_registry; unset uses npm\'s own configuration',
    }),
  ),
  DEPENDENCY_AUDIT_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Folder of the package.json that dependency-audit checks; unset means the Shipshape installation folder',
    }),
  ),
  DEPENDENCY_AUDIT_TIMEOUT_MS: Type.Integer({
    default: 120_000,
    minimum: 1000,
    maximum: 1_800_000,
    description: 'Time limit of each npm command dependency-audit runs, in milliseconds',
  }),
  DB_LOCK_TIMEOUT_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 600_000,
    description:
      'lock_timeout of vacuum-analyze and reindex statements and of the database report queries, in milliseconds: an upkeep statement whose lock is not granted in time is skipped and reported, a report fails and is retried',
  }),
  INDEX_STATS_MIN_DAYS: Type.Integer({
    default: 7,
    minimum: 0,
    maximum: 3650,
    description:
      'Days of index statistics performance-analysis needs before it recommends dropping an unused index; younger statistics list unused indexes without a DROP statement',
  }),
  INDEX_DROP_MIN_BYTES: Type.Integer({
    default: 1_048_576,
    minimum: 0,
    description: 'Size in bytes below which performance-analysis lists an unused index without recommending its DROP',
  }),
  LOG_LEVEL: Type.Unsafe<(typeof logLevels)[number]>({
    type: 'string',
    enum: logLevels,
    default: 'info',
    description: 'pino log level',
  }),
  CLEANUP_BATCH_SIZE: Type.Integer({
    default: 5000,
    minimum: 1,
    maximum: 100_000,
    description: 'Rows in the first cleanup or archive statement; later ones are sized by CLEANUP_BATCH_BUDGET_MS',
  }),
  CLEANUP_BATCH_BUDGET_MS: Type.Integer({
    default: 50,
    minimum: 0,
    maximum: 10_000,
    description: 'Target duration of one cleanup statement in milliseconds; 0 keeps every batch at CLEANUP_BATCH_SIZE',
  }),
  CLEANUP_MAX_BATCH_SIZE: Type.Integer({
    default: 50_000,
    minimum: 1,
    maximum: 1_000_000,
    description: 'Largest batch a cleanup statement may grow to',
  }),
  AUDIT_RETENTION_DAYS: Type.Integer({
    default: 90,
    minimum: 1,
    maximum: 36_500,
    description: 'Audit log rows older than this many days move to the archive',
  }),
  SESSION_GRACE_HOURS: Type.Integer({
    default: 24,
    minimum: 0,
    maximum: 87_600,
    description: 'Expired or revoked sessions are kept this many hours before deletion',
  }),
  ADMIN_DORMANT_DAYS: Type.Integer({
    default: 30,
    minimum: 1,
    maximum: 3650,
    description: 'An admin without a login for this many days is flagged as dormant',
  }),
  ACCOUNT_DORMANT_DAYS: Type.Integer({
    default: 90,
    minimum: 1,
    maximum: 3650,
    description: 'security-audit flags an active non-admin account without a login for this many days as dormant; it never deletes one',
  }),
  PASSWORD_MAX_AGE_DAYS: Type.Integer({
    default: 180,
    minimum: 1,
    maximum: 3650,
    description: 'security-audit flags active accounts whose password was last set (or, if never changed, created) longer ago than this',
  }),
  SECURITY_BURST_WINDOW_MINUTES: Type.Integer({
    default: 60,
    minimum: 1,
    maximum: 1440,
    description: 'security-review counts failed logins per IP address and per account within any window of this many minutes',
  }),
  SECURITY_IP_FAILED_THRESHOLD: Type.Integer({
    default: 20,
    minimum: 2,
    maximum: 100_000,
    description: 'security-review reports, and blocks, an IP address with this many failed logins within one burst window',
  }),
  SECURITY_ACCOUNT_FAILED_THRESHOLD: Type.Integer({
    default: 10,
    minimum: 2,
    maximum: 100_000,
    description: 'security-review reports an account with this many failed logins within one burst window',
  }),
  SECURITY_ACCOUNT_IP_THRESHOLD: Type.Integer({
    default: 8,
    minimum: 2,
    maximum: 100_000,
    description: 'security-review reports an account with login attempts from this many distinct IP addresses in the review period',
  }),
  SECURITY_ADMIN_HOURS: Type.String({
    default: '07-19',
    pattern: '^([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-4])$',
    description:
      'Usual working hours of admins in UTC, as start-end hours (end excluded, 22-06 wraps past midnight); security-review reports admin actions outside them',
  }),
  SECURITY_BLOCK_HOURS: Type.Integer({
    default: 168,
    minimum: 1,
    maximum: 87_600,
    description: 'How long a block that security-review adds to blocked_ips lasts, in hours',
  }),
  SECURITY_ALLOWLIST: Type.String({
    default: '127.0.0.0/8,::1/128',
    pattern: '^[0-9A-Fa-f:./]+(,[0-9A-Fa-f:./]+)*$',
    description: 'Comma-separated IP addresses or CIDR ranges that security-review never blocks; the default keeps loopback (127.0.0.1, ::1) unblockable',
  }),
  REPORT_EMAIL_TO: Type.Optional(
    Type.String({ minLength: 3, description: 'Recipient of the weekly report, comma-separated; unset sends it to ALERT_EMAIL_TO' }),
  ),
  PASSWORD_RESET_URL: Type.String({
    default: 'http://localhost:8080/reset-password?token=',
    pattern: '^https?://',
    description: 'Platform page that takes a password reset token; the token is appended',
  }),
  HEALTH_CHECK_URLS: Type.String({
    default: '',
    pattern: '^(https?://[^\\s,]+(,https?://[^\\s,]+)*)?$',
    description: "URLs the health-check job requests, comma-separated; empty checks the API's own http://HOST:PORT/health",
  }),
  HEALTH_CHECK_TIMEOUT_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 25_000,
    description: 'Time limit of each health check; a check still running then fails',
  }),
  HEALTH_CONFIRM_RUNS: Type.Integer({
    default: 2,
    minimum: 1,
    maximum: 20,
    description: 'Consecutive health-check results with the same status needed before a component changes status',
  }),
  HEALTH_FLAP_WINDOW_MINUTES: Type.Integer({
    default: 30,
    minimum: 0,
    maximum: 1440,
    description: 'A component failing again this soon after its last critical alert is raised as high, not emailed at once',
  }),
  HEALTH_SAMPLE_MINUTES: Type.Integer({
    default: 5,
    minimum: 0,
    maximum: 1440,
    description: 'Health history keeps one sampled result per component per this many minutes; 0 keeps every run',
  }),
  HEALTH_HISTORY_MAX_ROWS: Type.Integer({
    default: 20_000,
    minimum: 10,
    maximum: 10_000_000,
    description: 'Rows kept in health_check_history; the oldest go first, each run',
  }),
  HEALTH_CPU_MAX_PERCENT: Type.Number({ default: 70, exclusiveMinimum: 0, maximum: 100, description: 'CPU use above this warns' }),
  HEALTH_MEMORY_MAX_PERCENT: Type.Number({ default: 80, exclusiveMinimum: 0, maximum: 100, description: 'Memory use above this warns' }),
  HEALTH_DB_CONNECTIONS_MAX_PERCENT: Type.Number({
    default: 80,
    exclusiveMinimum: 0,
    maximum: 100,
    description: 'Database connections above this share of max_connections warn',
  }),
  HEALTH_STORAGE_MAX_PERCENT: Type.Number({
    default: 85,
    exclusiveMinimum: 0,
    maximum: 100,
    description: 'Use of the file system holding STORAGE_DIR above this warns',
  }),
  METRICS_PUSH_INTERVAL_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 60_000,
    description: 'How often each worker copies its metrics to Redis for the API to serve at /metrics',
  }),
  SCHEDULE_MIN_INTERVAL_MS: Type.Integer({
    default: 10_000,
    minimum: 1000,
    maximum: 86_400_000,
    description:
      'Shortest interval, in milliseconds, that PUT /api/schedules/:id accepts, for an `every` value and between two fire times of a pattern',
  }),
  SCHEDULE_LOCK_TTL_MS: Type.Integer({
    default: 30_000,
    minimum: 1000,
    maximum: 3_600_000,
    description:
      'Lifetime, in milliseconds, of the per-job lock that keeps a scheduled job from running twice at once; renewed while the job runs, so a killed worker frees it after this long',
  }),
  SCHEDULE_LATE_AFTER_MS: Type.Integer({
    default: 60_000,
    minimum: 0,
    maximum: 86_400_000,
    description: 'A scheduled run that starts this many milliseconds after its slot, or after the next slot passed, is marked late',
  }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    default: 30_000,
    minimum: 1000,
    maximum: 3_600_000,
    description: 'How long a worker waits for running jobs on SIGTERM before it hands them back',
  }),
  SHIPSHAPE_ADMIN_TOKEN: Type.Optional(
    Type.String({
      minLength: 32,
      maxLength: 256,
      pattern: '^[\\x21-\\x7e]+$',
      description:
        'Bootstrap admin token, accepted besides the tokens in the database; set it for the first start, create tokens with it, then unset it',
    }),
  ),
  BASE_PATH: Type.String({
    default: '',
    pattern: '^(/[A-Za-z0-9._~-]+)*$',
    description: 'URL prefix of every route, such as /ops behind a reverse proxy that forwards the prefix; empty serves at the root',
  }),
  METRICS_AUTH: Type.Unsafe<'loopback' | 'token'>({
    type: 'string',
    enum: ['loopback', 'token'],
    default: 'loopback',
    description: 'loopback: GET /metrics is open to requests from 127.0.0.1 and ::1 and needs a token from elsewhere; token: it always needs one',
  }),
  TRUST_PROXY: Type.Boolean({
    default: false,
    description: 'Take the client address from X-Forwarded-For, for rate limits and METRICS_AUTH; set it only behind a reverse proxy',
  }),
  RATE_LIMIT_MAX: Type.Integer({
    default: 1000,
    minimum: 1,
    maximum: 10_000_000,
    description: 'Requests one API token may make per RATE_LIMIT_WINDOW_MS; more get 429',
  }),
  RATE_LIMIT_ANONYMOUS_MAX: Type.Integer({
    default: 120,
    minimum: 1,
    maximum: 10_000_000,
    description: 'Requests without a valid token one client address may make per RATE_LIMIT_WINDOW_MS; more get 429',
  }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({
    default: 60_000,
    minimum: 1000,
    maximum: 3_600_000,
    description: 'Length of the rate limit window, in milliseconds',
  }),
});

export type Config = Readonly<Static<typeof ConfigSchema>>;

/** Thrown when an environment variable contains a value the schema rejects. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface AjvError {
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

const SECRET_NAME = /TOKEN|PASSWORD|SECRET|KEY/;

/** Shows a rejected value in an error message, hiding secrets and URL passwords. */
function describeValue(variable: string, value: string | undefined): string {
  if (value === undefined) return 'unset';
  if (SECRET_NAME.test(variable)) return 'a hidden value';
  if (variable.endsWith('_URL')) return JSON.stringify(redactUrlText(value));
  return JSON.stringify(value);
}

/**
 * Hides the password of a URL even when the rest of it does not parse, such as
 * `postgres//user:secret@host` with its colon missing: everything between the
 * user name's colon and the last `@` is hidden.
 */
function redactUrlText(value: string): string {
  const at = value.lastIndexOf('@');
  if (at === -1) return value;
  const start = value.lastIndexOf('/', at) + 1;
  const colon = value.indexOf(':', start);
  if (colon === -1 || colon > at) return value;
  return `${value.slice(0, colon + 1)}***${value.slice(at)}`;
}

function describeError(error: AjvError, env: NodeJS.ProcessEnv): string {
  const variable = error.instancePath.replace(/^\//, '') || String(error.params.missingProperty ?? '');
  const shown = describeValue(variable, env[variable]);
  const allowed = Array.isArray(error.params.allowedValues) ? `: ${error.params.allowedValues.join(', ')}` : '';
  return `${variable} ${error.message ?? 'is invalid'}${allowed} (got ${shown})`;
}

/**
 * Reads the settings from `env`, applies defaults, converts numbers and
 * returns them frozen. Throws a `ConfigError` that names every invalid
 * variable and the value it had.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // env-schema treats empty strings as values; an empty variable means "unset" here.
  const data = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));

  let parsed: Static<typeof ConfigSchema>;
  try {
    parsed = envSchema<Static<typeof ConfigSchema>>({ schema: ConfigSchema, data, env: false });
  } catch (error) {
    const details = (error as { errors?: AjvError[] }).errors;
    if (!details) throw error;
    const lines = [...new Set(details.map((detail) => `  ${describeError(detail, data)}`))];
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }

  return Object.freeze({ ...parsed });
}

/** Returns `url` with any password replaced, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}
