import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { connect } from 'node:tls';
import { Type } from '@sinclair/typebox';
import type { AlertSeverity } from '../../db/schema.js';
import { raiseAlert, resolveAlertByKey, type AlertDependencies } from '../alerts/alerts.js';
import { defineJob, type JobContext, type JsonValue } from '../contract.js';

/*
 * certificate-check: the expiry dates of the TLS certificates the platform
 * serves (CERT_CHECK_HOSTS) and of certificate files (CERT_CHECK_FILES).
 *
 * - A certificate that expires within CERT_WARN_DAYS raises a high alert.
 * - Within CERT_CRITICAL_DAYS, expired, or impossible to read or reach: a critical alert.
 * - A certificate that is fine again resolves the open alert of its key.
 *
 * The alert key is one per endpoint or file, so a monthly repeat counts an
 * occurrence instead of sending another email, and a worse state raises the
 * open alert's severity.
 */

const SOURCE = 'certificate-check';
const DAY_MS = 86_400_000;
// A PEM certificate, even a long chain, is far below this; a bigger file is not one.
const MAX_PEM_BYTES = 1024 * 1024;

export type CertificateTarget =
  | { kind: 'host'; host: string; port: number; servername: string | undefined; label: string }
  | { kind: 'file'; path: string; label: string };

/** Parses CERT_CHECK_HOSTS: `host:port` or `host:port,servername` entries separated by spaces or semicolons. */
export function parseHostTargets(text: string): CertificateTarget[] {
  return splitList(text).map((entry) => {
    const [address = '', servername] = entry.split(',');
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new Error(`CERT_CHECK_HOSTS entry ${JSON.stringify(entry)} is invalid: write host:port or host:port,servername`);
    }
    // SNI carries host names only, so an IP address sends none unless a servername is given.
    const sni = servername ?? (isIP(host) ? undefined : host);
    return { kind: 'host', host, port, servername: sni, label: servername ? `${address} (SNI ${servername})` : address };
  });
}

/** Parses CERT_CHECK_FILES: paths separated by semicolons, relative ones taken from the working folder. */
export function parseFileTargets(text: string): CertificateTarget[] {
  return text
    .split(';')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => ({ kind: 'file', path: path.resolve(entry), label: entry }));
}

function splitList(text: string): string[] {
  return text.split(/[\s;]+/).filter((entry) => entry !== '');
}

function alertKey(target: CertificateTarget): string {
  return target.kind === 'host'
    ? `certificate:host:${target.host}:${target.port}:${target.servername ?? ''}`
    : `certificate:file:${target.path}`;
}

interface Fetched {
  certificate: X509Certificate;
  /** Whether the chain verified against Node's CA store; only for hosts. */
  authorized?: boolean;
  authorizationError?: string;
}

/**
 * Connects with TLS, takes the peer certificate and closes. Verification is
 * off on purpose: an expired or self-signed certificate must still be read to
 * report its dates. The verification result is reported beside them.
 */
function fetchHostCertificate(target: Extract<CertificateTarget, { kind: 'host' }>, timeoutMs: number): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, servername: target.servername, rejectUnauthorized: false });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certificate = socket.getPeerX509Certificate();
      const authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      // Only the certificate was needed, so the connection closes without waiting for the server.
      socket.destroy();
      if (!certificate) reject(new Error('the server sent no certificate'));
      else resolve({ certificate, authorized: socket.authorized, authorizationError });
    });
    // `on`, not `once`: a second error event without a listener would crash the worker.
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function readCertificateFile(target: Extract<CertificateTarget, { kind: 'file' }>): Promise<Fetched> {
  const info = await stat(target.path);
  if (!info.isFile()) throw new Error('not a regular file');
  if (info.size > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes, so not a PEM certificate`);
  // X509Certificate reads the first certificate of a PEM file, which is the leaf in a chain file.
  return { certificate: new X509Certificate(await readFile(target.path)) };
}

interface Thresholds {
  warnDays: number;
  criticalDays: number;
}

type Status = 'ok' | 'expiring' | 'critical' | 'expired' | 'error';

const SEVERITY: Record<Status, AlertSeverity | null> = { ok: null, expiring: 'high', critical: 'critical', expired: 'critical', error: 'critical' };

/** One line of the report; the certificate fields are null when it could not be read. */
type CheckResult = {
  target: string;
  kind: CertificateTarget['kind'];
  status: Status;
  error: string | null;
  subject: string | null;
  issuer: string | null;
  validFrom: string | null;
  expiresAt: string | null;
  daysLeft: number | null;
  fingerprint256: string | null;
  authorized: boolean | null;
  authorizationError: string | null;
};

/** Checks one target and returns its report line; never throws for an unreachable or unreadable target. */
async function checkTarget(target: CertificateTarget, thresholds: Thresholds, timeoutMs: number, now: number): Promise<CheckResult> {
  let fetched: Fetched;
  try {
    fetched = target.kind === 'host' ? await fetchHostCertificate(target, timeoutMs) : await readCertificateFile(target);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      target: target.label,
      kind: target.kind,
      status: 'error',
      error: reason,
      subject: null,
      issuer: null,
      validFrom: null,
      expiresAt: null,
      daysLeft: null,
      fingerprint256: null,
      authorized: null,
      authorizationError: null,
    };
  }

  const { certificate } = fetched;
  const expiresAt = new Date(certificate.validTo);
  const daysLeft = Math.floor((expiresAt.getTime() - now) / DAY_MS);
  let status: Status = 'ok';
  if (expiresAt.getTime() <= now) status = 'expired';
  else if (daysLeft < thresholds.criticalDays) status = 'critical';
  else if (daysLeft < thresholds.warnDays) status = 'expiring';
  return {
    target: target.label,
    kind: target.kind,
    status,
    error: null,
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    validFrom: new Date(certificate.validFrom).toISOString(),
    expiresAt: expiresAt.toISOString(),
    daysLeft,
    fingerprint256: certificate.fingerprint256,
    authorized: fetched.authorized ?? null,
    authorizationError: fetched.authorizationError ?? null,
  };
}

function alertMessage(target: CertificateTarget, result: CheckResult): string {
  const what = target.kind === 'host' ? `TLS certificate of ${target.label}` : `Certificate file ${target.label}`;
  if (result.status === 'error') return `${what} could not be checked: ${result.error}`;
  const when = result.expiresAt!.slice(0, 10);
  if (result.status === 'expired') return `${what} (${result.subject}) expired on ${when}`;
  return `${what} (${result.subject}) expires on ${when}, in ${result.daysLeft} days`;
}

const alertDependencies = (context: JobContext): AlertDependencies => ({
  db: context.db,
  emailQueue: context.queues.email,
  config: context.config,
  logger: context.logger,
});

export const certificateCheck = defineJob({
  name: 'certificate-check',
  queue: 'maintenance',
  description: 'Check the expiry of TLS certificates of configured hosts and files, and alert before they expire',
  payload: Type.Object(
    {
      warnDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'High alert within this many days; default CERT_WARN_DAYS' })),
      criticalDays: Type.Optional(
        Type.Integer({ minimum: 0, maximum: 3650, description: 'Critical alert within this many days; default CERT_CRITICAL_DAYS' }),
      ),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  validate(payload) {
    if (payload.warnDays !== undefined && payload.criticalDays !== undefined && payload.criticalDays > payload.warnDays) {
      return ['data.criticalDays must not exceed data.warnDays: the critical threshold is the nearer one'];
    }
    return [];
  },
  async run(context, payload) {
    const { config } = context;
    const thresholds = { warnDays: payload.warnDays ?? config.CERT_WARN_DAYS, criticalDays: payload.criticalDays ?? config.CERT_CRITICAL_DAYS };
    const targets = [...parseHostTargets(config.CERT_CHECK_HOSTS), ...parseFileTargets(config.CERT_CHECK_FILES)];
    const now = Date.now();

    const certificates: JsonValue[] = [];
    const counts: Record<Status, number> = { ok: 0, expiring: 0, critical: 0, expired: 0, error: 0 };
    for (const target of targets) {
      context.signal.throwIfAborted();
      const result = await checkTarget(target, thresholds, config.CERT_CHECK_TIMEOUT_MS, now);
      counts[result.status] += 1;
      if (result.status === 'error') context.logger.warn({ target: target.label, error: result.error }, 'certificate could not be checked');

      const severity = SEVERITY[result.status];
      const key = alertKey(target);
      if (severity) {
        await raiseAlert(alertDependencies(context), { severity, source: SOURCE, key, message: alertMessage(target, result), details: result });
      } else {
        await resolveAlertByKey(alertDependencies(context), key, SOURCE);
      }
      certificates.push({ ...result, alert: severity });
    }

    context.logger.info({ checked: targets.length, ...counts }, 'certificate check finished');
    return { ...thresholds, checked: targets.length, ...counts, certificates };
  },
});
