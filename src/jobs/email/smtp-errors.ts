/**
 * What a failed SMTP delivery means for the message:
 * - `retry`: the server did not take it (a 4xx reply, or no connection at all),
 *   so sending it again cannot deliver it twice;
 * - `reject`: the server refused it for good (a 5xx reply or an invalid envelope);
 * - `unknown`: the connection failed after the message data went out, so the
 *   server may have accepted it. Shipshape does not resend such a message,
 *   because it sends each message at most once.
 */
export type SmtpOutcome = 'retry' | 'reject' | 'unknown';

interface NodemailerError {
  code?: string;
  responseCode?: number;
  command?: string;
  syscall?: string;
  timeoutType?: string;
}

// Errors nodemailer raises before the server has the message.
const NOT_SENT_CODES = new Set(['EDNS', 'ETLS', 'EAUTH', 'ENOAUTH', 'EPROXY', 'EMAXLIMIT']);
const NOT_SENT_COMMANDS = new Set(['EHLO', 'HELO', 'STARTTLS', 'AUTH PLAIN', 'AUTH LOGIN', 'MAIL FROM', 'RCPT TO']);
// nodemailer 10 timeouts that end before the first SMTP command.
const SETUP_TIMEOUTS = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT']);

export function classifySmtpError(error: unknown): SmtpOutcome {
  const details = (typeof error === 'object' && error !== null ? error : {}) as NodemailerError;
  const { responseCode, code, command, syscall, timeoutType } = details;

  if (typeof responseCode === 'number' && responseCode >= 500) return 'reject';
  if (typeof responseCode === 'number' && responseCode >= 400) return 'retry';
  if (code === 'EENVELOPE') return 'reject';
  if (code && NOT_SENT_CODES.has(code)) return 'retry';
  if (command && NOT_SENT_COMMANDS.has(command)) return 'retry';
  // nodemailer 10 reports every socket close, reset and socket timeout with
  // command CONN, also in the middle of DATA. Only a failed connect or a setup
  // timeout proves that nothing was sent.
  // NOTE: a server that drops the connection during EHLO also ends as unknown, not resent.
  if (syscall === 'connect' || (timeoutType && SETUP_TIMEOUTS.has(timeoutType))) return 'retry';
  return 'unknown';
}
