import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../../config.js';

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html?: string | null;
  /** Message-ID header value in angle brackets; generated when absent. */
  messageId?: string;
}

export interface DeliveryResult {
  messageId: string;
  /** The SMTP server's final reply, or where the .eml file was written. */
  response: string;
  accepted: string[];
  rejected: string[];
}

export interface Mailer {
  /** `smtp` with SMTP_URL set, `outbox` when messages go to .eml files. */
  kind: 'smtp' | 'outbox';
  send(email: OutgoingEmail): Promise<DeliveryResult>;
  /** Checks that the SMTP server accepts a connection (and login), or that the outbox folder is writable. */
  verify(): Promise<void>;
  close(): void;
}

/** Returns a Message-ID in the sender's domain, so one can be stored before the message is sent. */
export function createMessageId(from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'localhost';
  return `<${randomUUID()}@${domain}>`;
}

function smtpOptions(smtpUrl: string) {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  // The submission ports: 465 for implicit TLS, 587 for STARTTLS.
  const defaultPort = secure ? 465 : 587;
  return {
    pool: true as const,
    maxConnections: 5,
    host: url.hostname,
    port: url.port ? Number(url.port) : defaultPort,
    secure,
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 60_000,
  };
}

/** Flattens nodemailer's accepted and rejected lists, whose entries are strings or address objects. */
function toStrings(addresses: unknown): string[] {
  if (!Array.isArray(addresses)) return [];
  return addresses.map((address) => (typeof address === 'string' ? address : String((address as { address?: string }).address)));
}

/**
 * Creates the mailer: a pooled SMTP transport from SMTP_URL (TLS with
 * `smtps://`, login from the URL's user and password), or with SMTP_URL unset
 * a writer of `.eml` files under OUTBOX_DIR. Nothing here logs the URL.
 */
export function createMailer(config: Config): Mailer {
  const from = config.MAIL_FROM;

  if (config.SMTP_URL) {
    const transport = nodemailer.createTransport(smtpOptions(config.SMTP_URL));
    return {
      kind: 'smtp',
      async send(email) {
        const messageId = email.messageId ?? createMessageId(from);
        const info = await transport.sendMail({ from, to: email.to, subject: email.subject, text: email.text, html: email.html ?? undefined, messageId });
        return { messageId, response: String(info.response ?? ''), accepted: toStrings(info.accepted), rejected: toStrings(info.rejected) };
      },
      async verify() {
        await transport.verify();
      },
      close() {
        transport.close();
      },
    };
  }

  const outbox = resolve(config.OUTBOX_DIR);
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    kind: 'outbox',
    async send(email) {
      const messageId = email.messageId ?? createMessageId(from);
      const info = await transport.sendMail({ from, to: email.to, subject: email.subject, text: email.text, html: email.html ?? undefined, messageId });
      await mkdir(outbox, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${messageId.replace(/[^A-Za-z0-9@.-]/g, '')}.eml`;
      const path = join(outbox, name);
      // Written under a temporary name and renamed, so a reader never sees half a message.
      await writeFile(`${path}.tmp`, info.message as Buffer);
      await rename(`${path}.tmp`, path);
      return { messageId, response: `written to ${path}`, accepted: [email.to], rejected: [] };
    },
    async verify() {
      await mkdir(outbox, { recursive: true });
      const probe = join(outbox, `.probe-${randomUUID()}`);
      await writeFile(probe, '');
      await rm(probe);
    },
    close() {
      transport.close();
    },
  };
}
