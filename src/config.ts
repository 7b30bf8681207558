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
  PASSWORD_RESET_URL: Type.String({
    default: 'http://localhost:8080/reset-password?token=',
    pattern: '^https?://',
    description: 'Platform page that takes a password reset token; the token is appended',
  }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    default: 30_000,
    minimum: 1000,
    maximum: 3_600_000,
    description: 'How long a worker waits for running jobs on SIGTERM before it hands them back',
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

/** Hides the password of a URL even when the rest of it does not parse. */
function redactUrlText(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
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
