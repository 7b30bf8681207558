import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});

    expect(config).toMatchObject({
      DATABASE_URL: 'postgres://localhost:5432/shipshape',
      REDIS_URL: 'redis://127.0.0.1:6379',
      HOST: '127.0.0.1',
      PORT: 3000,
      QUEUE_PREFIX: 'shipshape',
      STORAGE_DIR: 'var/storage',
      BACKUP_DIR: 'var/backups',
      CLEANUP_BATCH_SIZE: 5000,
      AUDIT_RETENTION_DAYS: 90,
    });
    expect(config.SMTP_URL).toBeUndefined();
  });

  it('converts numbers and returns a frozen object', () => {
    const config = loadConfig({ PORT: '8080', CLEANUP_BATCH_SIZE: '250' });

    expect(config.PORT).toBe(8080);
    expect(config.CLEANUP_BATCH_SIZE).toBe(250);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '' }).PORT).toBe(3000);
  });

  const invalid: Array<[string, Record<string, string>, RegExp]> = [
    ['port not a number', { PORT: 'eighty' }, /PORT must be integer \(got "eighty"\)/],
    ['port out of range', { PORT: '70000' }, /PORT must be <= 65535/],
    ['redis URL scheme', { REDIS_URL: 'http://127.0.0.1:6379' }, /REDIS_URL must match/],
    ['database URL scheme', { DATABASE_URL: 'mysql://x/y' }, /DATABASE_URL must match/],
    ['queue prefix with colon', { QUEUE_PREFIX: 'a:b' }, /QUEUE_PREFIX must match/],
    ['unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL must be equal to one of the allowed values: fatal/],
    ['zero batch size', { CLEANUP_BATCH_SIZE: '0' }, /CLEANUP_BATCH_SIZE must be >= 1/],
  ];
  for (const [name, env, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  it('hides URL passwords in errors', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/app' })).toThrow('mysql://admin:***@db/app');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/app' })).not.toThrow(/hunter2/);
  });

  it.each([
    ['postgres//admin:hunter2@db/app', 'postgres//admin:***@db/app'],
    ['admin:hunter2@db', 'admin:***@db'],
    ['postgres:/admin:hunter2@db', 'postgres:/admin:***@db'],
  ])('hides the password of the malformed URL %s', (url, shown) => {
    expect(() => loadConfig({ DATABASE_URL: url })).toThrow(shown);
    expect(() => loadConfig({ DATABASE_URL: url })).not.toThrow(/hunter2/);
  });

  it('names every invalid variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' })).toThrow(/PORT[\s\S]*LOG_LEVEL|LOG_LEVEL[\s\S]*PORT/);
  });
});
