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
}

export type PlatformSettings = Selectable<PlatformSettingsTable>;

export type BlockedIp = Selectable<BlockedIpsTable>;

export type AlertRow = Selectable<AlertsTable>;

export type EmailRow = Selectable<EmailQueueTable>;

export type MaintenanceLog = Selectable<MaintenanceLogsTable>;
export type NewMaintenanceLog = Insertable<MaintenanceLogsTable>;
