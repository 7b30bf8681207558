import type { Config } from '../../config.js';

export interface EscalationLevel {
  /** 1 for the first contact, then 2, 3, ... */
  level: number;
  to: string;
  /** Minutes after the previous level (or after the alert, for level 1) before this level is emailed. */
  afterMinutes: number;
}

/** Parses ALERT_ESCALATION (`address:minutes,...`), already checked by the config schema. */
export function escalationLevels(config: Config): EscalationLevel[] {
  return config.ALERT_ESCALATION.split(',').map((entry, index) => {
    const separator = entry.lastIndexOf(':');
    return { level: index + 1, to: entry.slice(0, separator), afterMinutes: Number(entry.slice(separator + 1)) };
  });
}
