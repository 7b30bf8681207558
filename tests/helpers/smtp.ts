import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMessage {
  from: string;
  to: string[];
  raw: string;
}

/** Reply of the test server to RCPT TO for an address: accept it, or reply with this SMTP code. */
export type RecipientRule = (address: string, attempt: number) => number | 'accept';

export interface TestSmtpServer {
  port: number;
  url: string;
  received: ReceivedMessage[];
  /** Sets the reply to RCPT TO. `attempt` counts RCPT TO calls per address from 1. */
  setRecipientRule(rule: RecipientRule): void;
  /** Stops listening, so connections are refused, until start() is called again. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/**
 * Starts a real SMTP peer on 127.0.0.1 (smtp-server, without TLS or login) that
 * stores every message it accepts.
 */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMessage[] = [];
  const attempts = new Map<string, number>();
  let rule: RecipientRule = () => 'accept';
  let port = 0;

  const create = () =>
    new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, callback) {
        const attempt = (attempts.get(address.address) ?? 0) + 1;
        attempts.set(address.address, attempt);
        const answer = rule(address.address, attempt);
        if (answer === 'accept') return callback();
        const error = Object.assign(new Error(`test server rejects ${address.address} with ${answer}`), { responseCode: answer });
        return callback(error);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((recipient) => recipient.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        });
      },
    });

  let server = create();
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();

  return {
    get port() {
      return port;
    },
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    received,
    setRecipientRule(next) {
      rule = next;
      attempts.clear();
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
    async start() {
      server = create();
      await listen();
    },
  };
}
