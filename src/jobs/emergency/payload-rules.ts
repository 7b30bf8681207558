import { isIP } from 'node:net';
import { FormatRegistry } from '@sinclair/typebox';

/*
 * Payload rules of the emergency jobs that a plain TypeBox object cannot
 * express: two string formats, and "exactly one of these fields" as a job's
 * `validate` function. checkPayload (../payload.ts) applies both in the API
 * and in the worker.
 */

/** Format of an IPv4 or IPv6 address, or a CIDR range such as `203.0.113.0/24`. */
export const IP_NETWORK_FORMAT = 'ip-network';

/** Format of an ISO 8601 date-time with a time zone that lies in the future when checked. */
export const FUTURE_DATE_TIME_FORMAT = 'future-date-time';

const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Returns true for an IP address or CIDR range that PostgreSQL's `inet` type accepts. */
export function isIpNetwork(value: string): boolean {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  // node:net accepts IPv6 zone ids (`fe80::1%eth0`), which inet rejects.
  if (address.includes('%')) return false;
  const version = isIP(address);
  if (version === 0) return false;
  if (slash === -1) return true;

  const prefix = value.slice(slash + 1);
  if (!PREFIX_LENGTH.test(prefix)) return false;
  return Number(prefix) <= (version === 4 ? 32 : 128);
}

function isFutureDateTime(value: string): boolean {
  if (!DATE_TIME.test(value)) return false;
  const time = Date.parse(value);
  return Number.isFinite(time) && time > Date.now();
}

export interface ChoiceRule {
  /** Fields of which exactly one must be present, for example `['on', 'off']`. */
  choices: readonly string[];
  /** Fields allowed only together with one choice, for example `{ message: 'on' }`. */
  requires?: Readonly<Record<string, string>>;
}

/** Returns what is wrong with `value` under `rule`, or undefined when it complies. */
export function choiceViolation(rule: ChoiceRule, value: unknown): string | undefined {
  // A non-object is reported by the object schema itself.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;

  const present = rule.choices.filter((field) => field in value);
  const fields = rule.choices.map((field) => `data.${field}`).join(' or ');
  if (present.length === 0) return `expected one of ${fields}`;
  if (present.length > 1) return `expected only one of ${fields}, got ${present.map((field) => `data.${field}`).join(' and ')}`;

  for (const [field, choice] of Object.entries(rule.requires ?? {})) {
    if (field in value && !(choice in value)) return `expected data.${field} only together with data.${choice}`;
  }
  return undefined;
}

// Formats for TypeBox's compiler, which checks job payloads in the API and the worker.
if (!FormatRegistry.Has(IP_NETWORK_FORMAT)) FormatRegistry.Set(IP_NETWORK_FORMAT, isIpNetwork);
if (!FormatRegistry.Has(FUTURE_DATE_TIME_FORMAT)) FormatRegistry.Set(FUTURE_DATE_TIME_FORMAT, isFutureDateTime);

/** Returns a job's `validate` function for `rule`, so a violation is a 400 at the API and a failed run without retries at the worker. */
export function choiceValidator(rule: ChoiceRule) {
  return (payload: object): string[] => {
    const violation = choiceViolation(rule, payload);
    return violation ? [violation] : [];
  };
}
