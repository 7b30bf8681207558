import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/*
 * Row types of the platform's tables and Shipshape's own maintenance_logs, as
 * the migrations in ./migrations create them. Ids are bigint columns that the
 * pool parses to numbers (see database.ts), so they stay exact up to 2^53.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface CrewsTable {
  id: Generated<number>;
  name: string;
  vessel: string;
  created_at: CreatedAt;
}

export type UserRole = 'admin' | 'manager' | 'crew';

export interface UsersTable {
  id: Generated<number>;
  email: string;
  full_name: string;
  role: UserRole;
  crew_id: number | null;
  is_active: Generated<boolean>;
  last_login_at: Timestamp | null;
  created_at: CreatedAt;
  password_reset_required: Generated<boolean>;
  /** When the password was last set; null when it was never changed after the account was created. */
  password_changed_at: Timestamp | null;
}

export interface PasswordResetTokensTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface UserSessionsTable {
  id: Generated<number>;
  user_id: number;
  ip_address: string | null;
  user_agent: string | null;
  created_at: CreatedAt;
  last_seen_at: Timestamp | null;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface TokenBlacklistTable {
  id: Generated<number>;
  jti: string;
  user_id: number | null;
  reason: string;
  blacklisted_at: CreatedAt;
  expires_at: Timestamp | null;
}

export interface AuditLogsTable {
  id: Generated<number>;
  user_id: number | null;
  action: string;
  entity_type: string | null;
  entity_id: string | null;
  details: unknown;
  ip_address: string | null;
  created_at: CreatedAt;
}

export interface AuditLogsArchiveTable {
  id: number;
  user_id: number | null;
  action: string;
  entity_type: string | null;
  entity_id: string | null;
  details: unknown;
  ip_address: string | null;
  created_at: Timestamp;
  archived_at: CreatedAt;
}

export interface TrainingProgressTable {
  id: Generated<number>;
  user_id: number;
  module_id: string;
  status: 'not_started' | 'in_progress' | 'completed';
  progress_percent: Generated<number>;
  updated_at: CreatedAt;
  completed_at: Timestamp | null;
}

export interface QuizAttemptsTable {
  id: Generated<number>;
  user_id: number;
  quiz_id: string;
  score: number;
  passed: boolean;
  attempted_at: CreatedAt;
}

/** `routine` for calendar runs, `scheduled` for runs a person requested, `emergency` for emergency actions. */
export type MaintenanceType = 'routine' | 'scheduled' | 'emergency';

export interface MaintenanceLogsTable {
  id: Generated<number>;
  type: MaintenanceType;
  action: string;
  performed_by: string;
  /** A Postgres interval, read back as its text form, for example `00:00:01.52`. */
  duration: ColumnType<string, string, string>;
  result: 'success' | 'failure';
  notes: string | null;
  job_name: string;
  job_id: string;
  queue: string;
  attempt: number;
  summary: unknown;
  created_at: CreatedAt;
}

export type EmailStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface EmailQueueTable {
  id: Generated<number>;
  recipient: string;
  subject: string;
  body_text: string;
  body_html: string | null;
  source: Generated<string>;
  status: Generated<EmailStatus>;
  attempts: Generated<number>;
  last_error: string | null;
  next_attempt_at: Timestamp | null;
  locked_until: Timestamp | null;
  handed_off_at: Timestamp | null;
  message_id: string | null;
  smtp_response: string | null;
  sent_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type AlertSeverity = 'critical' | 'high' | 'medium' | 'low';
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

export interface AlertsTable {
  id: Generated<number>;
  severity: AlertSeverity;
  source: string;
  dedup_key: string;
  message: string;
  details: unknown;
  status: Generated<AlertStatus>;
  occurrences: Generated<number>;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
  notified_at: Timestamp | null;
  acknowledged_at: Timestamp | null;
  acknowledged_by: string | null;
  resolved_at: Timestamp | null;
  resolved_by: string | null;
  resolution_notified_at: Timestamp | null;
  escalation_level: Generated<number>;
  escalated_at: Timestamp | null;
}

export interface AlertDigestsTable {
  severity: AlertSeverity;
  window_end: Timestamp;
  alert_count: number;
  email_id: number;
  created_at: CreatedAt;
}

export interface PlatformSettingsTable {
  id: Generated<boolean>;
  maintenance_mode: Generated<boolean>;
  maintenance_message: string | null;
  maintenance_until: Timestamp | null;
  read_only: Generated<boolean>;
  lockdown: Generated<boolean>;
  rate_limit_per_minute: number | null;
  tokens_valid_after: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  updated_by: string | null;
}

export interface BlockedIpsTable {
  id: Generated<number>;
  /** A cidr value in PostgreSQL's text form, for example `203.0.113.0/24` or `2001:db8::1/128`. */
  network: string;
  reason: string;
  blocked_by: string;
  created_at: CreatedAt;
  /** Null for a block without end. */
  expires_at: Timestamp | null;
}

/** A file a user uploaded; `path` is relative to STORAGE_DIR, under `uploads/`. */
export interface UploadsTable {
  id: Generated<number>;
  user_id: number | null;
  path: string;
  original_name: string;
  content_type: string;
  size_bytes: number;
  created_at: CreatedAt;
}

/** A training certificate issued as a file; `file_path` is relative to STORAGE_DIR. */
export interface CertificatesTable {
  id: Generated<number>;
  user_id: number;
  module_id: string;
  certificate_number: string;
  file_path: string;
  issued_at: Timestamp;
  archived_at: Timestamp | null;
  created_at: CreatedAt;
}

export type HealthStatus = 'pass' | 'warn' | 'fail';

export interface HealthCheckStateTable {
  component: string;
  status: HealthStatus;
  since: Timestamp;
  output: string | null;
  /** JSON array of health+json check objects from the latest run. */
  measurements: unknown;
  checked_at: Timestamp;
}

export interface HealthCheckHistoryTable {
  id: Generated<number>;
  component: string;
  kind: 'change' | 'sample';
  status: HealthStatus;
  previous_status: HealthStatus | null;
  output: string | null;
  measurements: unknown;
  checked_at: Timestamp;
}

/** An operator's change to a calendar entry; null fields keep the calendar's value. */
export interface ScheduleOverridesTable {
  /** The job name, which is also the BullMQ job scheduler id. */
  id: string;
  pattern: string | null;
  /** Interval in milliseconds, instead of a pattern. */
  every: number | null;
  /** IANA time zone of the pattern. */
  tz: string | null;
  paused: Generated<boolean>;
  updated_by: string;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type ScheduleChangeAction = 'update' | 'pause' | 'resume' | 'reset';

export interface ScheduleHistoryTable {
  id: Generated<number>;
  schedule_id: string;
  action: ScheduleChangeAction;
  changed_by: string;
  changed_at: CreatedAt;
  /** The override row before the change as JSON, or null when there was none. */
  before: unknown;
  after: unknown;
}

export type BackupKind = 'daily' | 'monthly' | 'manual' | 'pre-restore';
export type BackupStatus = 'running' | 'completed' | 'failed';
export type BackupCheckStatus = 'passed' | 'failed';

export interface BackupsTable {
  id: Generated<number>;
  kind: BackupKind;
  status: Generated<BackupStatus>;
  /** File name inside BACKUP_DIR. */
  file: string;
  /** Folder inside BACKUP_DIR of a full backup's storage archive, configuration and manifest. */
  bundle: string | null;
  size_bytes: number | null;
  sha256: string | null;
  database_name: string;
  server_version: string | null;
  pg_dump_version: string | null;
  schema_migration: string | null;
  /** Rows per platform table at dump time, as `{ table: count }`. */
  row_counts: Record<string, number> | null;
  requested_by: string;
  job_id: string | null;
  started_at: CreatedAt;
  finished_at: Timestamp | null;
  error: string | null;
  verification_status: BackupCheckStatus | null;
  verified_at: Timestamp | null;
  verification_error: string | null;
  restore_test_status: BackupCheckStatus | null;
  restore_tested_at: Timestamp | null;
  restore_test_ms: number | null;
  restore_test_error: string | null;
}

export interface LoginAttemptsTable {
  id: Generated<number>;
  user_id: number | null;
  /** The account name as typed, also for accounts that do not exist. */
  email: string;
  ip_address: string;
  success: boolean;
  failure_reason: string | null;
  user_agent: string | null;
  attempted_at: CreatedAt;
}

export interface SecurityAlertsTable {
  id: Generated<number>;
  alert_type: string;
  severity: AlertSeverity;
  user_id: number | null;
  ip_address: string | null;
  description: string;
  details: unknown;
  created_at: CreatedAt;
  resolved_at: Timestamp | null;
}

export interface ReportsTable {
  id: Generated<number>;
  /** For example `weekly`. */
  kind: string;
  title: string;
  period_start: Timestamp;
  period_end: Timestamp;
  /** The plain-text report. */
  body: string;
  summary: unknown;
  email_id: number | null;
  job_id: string | null;
  created_by: string;
  created_at: CreatedAt;
}

export interface Database {
  crews: CrewsTable;
  users: UsersTable;
  user_sessions: UserSessionsTable;
  token_blacklist: TokenBlacklistTable;
  audit_logs: AuditLogsTable;
  audit_logs_archive: AuditLogsArchiveTable;
  training_progress: TrainingProgressTable;
  quiz_attempts: QuizAttemptsTable;
  maintenance_logs: MaintenanceLogsTable;
  email_queue: EmailQueueTable;
  alerts: AlertsTable;
  alert_digests: AlertDigestsTable;
  platform_settings: PlatformSettingsTable;
  password_reset_tokens: PasswordResetTokensTable;
  blocked_ips: BlockedIpsTable;
  login_attempts: LoginAttemptsTable;
  security_alerts: SecurityAlertsTable;
  reports: ReportsTable;
  backups: BackupsTable;
  health_check_state: HealthCheckStateTable;
  health_check_history: HealthCheckHistoryTable;
  uploads: UploadsTable;
  certificates: CertificatesTable;
  schedule_overrides: ScheduleOverridesTable;
  schedule_history: ScheduleHistoryTable;
  api_tokens: ApiTokensTable;
}

export type PlatformSettings = Selectable<PlatformSettingsTable>;

export type BlockedIp = Selectable<BlockedIpsTable>;

export type AlertRow = Selectable<AlertsTable>;

export type EmailRow = Selectable<EmailQueueTable>;

export type MaintenanceLog = Selectable<MaintenanceLogsTable>;
export type NewMaintenanceLog = Insertable<MaintenanceLogsTable>;

/** A token of the Shipshape API; only its SHA-256 hash is stored. */
export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  role: 'viewer' | 'operator' | 'admin';
  token_hash: string;
  /** Name of the token that created this one. */
  created_by: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export type BackupRow = Selectable<BackupsTable>;

export type ReportRow = Selectable<ReportsTable>;
