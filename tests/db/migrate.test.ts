import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ensureDatabase } from '../../src/db/migrate.js';
import { TEST_POSTGRES_URL } from '../helpers/services.js';

describe('ensureDatabase', () => {
  it('says a refused login is a credentials problem', async () => {
    const url = new URL(TEST_POSTGRES_URL);
    url.username = 'shipshape_no_such_role';
    url.password = 'not-the-password';
    url.pathname = '/shipshape_never_created';

    const attempt = ensureDatabase(url.toString());

    await expect(attempt).rejects.toThrow(/rejected the login .*check the user and password in DATABASE_URL/);
    await expect(attempt).rejects.not.toThrow(/not-the-password/);
  });

  it('says a closed port is an unreachable server', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    await expect(ensureDatabase(`postgres://127.0.0.1:${port}/shipshape_never_created`)).rejects.toThrow(/is unreachable .*start PostgreSQL or set DATABASE_URL/);
  });
});
