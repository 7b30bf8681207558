import { describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/jobs/email/smtp-errors.js';

describe('classifySmtpError', () => {
  it('retries a refused connection', () => {
    expect(classifySmtpError({ code: 'ESOCKET', command: 'CONN', syscall: 'connect' })).toBe('retry');
  });

  it('retries a greeting timeout', () => {
    expect(classifySmtpError({ code: 'ETIMEDOUT', command: 'CONN', timeoutType: 'GREETING_TIMEOUT' })).toBe('retry');
  });

  it('treats a close during DATA as unknown', () => {
    // nodemailer 10 reports a close after the message data with command CONN.
    expect(classifySmtpError({ code: 'ECONNECTION', command: 'CONN' })).toBe('unknown');
  });

  it('treats a socket timeout as unknown', () => {
    expect(classifySmtpError({ code: 'ETIMEDOUT', command: 'CONN', timeoutType: 'SOCKET_TIMEOUT' })).toBe('unknown');
  });

  it('rejects a 550 reply', () => {
    expect(classifySmtpError({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' })).toBe('reject');
  });
});
