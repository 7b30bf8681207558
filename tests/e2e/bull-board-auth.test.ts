import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/queues/connection.js';
import { TEST_ADMIN_TOKEN, buildTestApp } from '../helpers/app.js';
import { TEST_REDIS_URL, createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM_PATH = '/usr/bin/chromium';
// The same flags as the Bull Board browser test: every host but 127.0.0.1 resolves to "not found".
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
const BASE_PATH = '/ops';

const prefix = uniqueName('bull_board_auth');
let database: TestDatabase;
let app: FastifyInstance;
let baseUrl: string;
let failedJob: Job;
const tokens: Record<string, string> = {};
const profiles: string[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  database = await createTestDatabase('bull_board_auth');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, BASE_PATH }), logger: false });
  for (const role of ['viewer', 'operator']) {
    const response = await app.inject({ method: 'POST', url: `${BASE_PATH}/api/tokens`, payload: { name: `bridge-${role}`, role } });
    expect(response.statusCode, response.body).toBe(201);
    tokens[role] = response.json().token;
  }

  // One failed run on the maintenance queue, from a worker whose processor always throws.
  const connection = createRedis(TEST_REDIS_URL, 'worker');
  const worker = new Worker('maintenance', async () => {
    throw new Error('cache rebuild probe failed');
  }, { connection, prefix });
  try {
    failedJob = await app.queues.maintenance.add('rebuild-cache', { payload: {}, requestedBy: 'test' }, { attempts: 1 });
    await waitFor('the probe job to fail', async () => ((await failedJob.getState()) === 'failed' ? true : undefined));
  } finally {
    await worker.close();
    connection.disconnect();
  }

  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}${BASE_PATH}`;
});

afterAll(async () => {
  for (const context of contexts) await context.close();
  for (const profile of profiles) await rm(profile, { recursive: true, force: true });
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

/** Starts Chromium with a fresh profile that answers the login prompt with `token` as password. */
async function openBrowser(token: string): Promise<{ page: Page; failures: string[]; violations: string[] }> {
  const profile = await mkdtemp(join(tmpdir(), 'shipshape-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 720 },
    httpCredentials: { username: 'bridge', password: token },
    timeout: 30_000,
  });
  contexts.push(context);
  context.setDefaultTimeout(20_000);
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort('blockedbyclient'),
  );
  const page = context.pages()[0] ?? (await context.newPage());
  const failures: string[] = [];
  page.on('response', (response) => {
    const url = new URL(response.url());
    // A 401 is the login challenge the browser handles. Every other response from the API must load.
    if (url.hostname === '127.0.0.1' && response.status() >= 400 && response.status() !== 401) failures.push(`${response.status()} ${url.pathname}`);
  });
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  return { page, failures, violations };
}

async function openFailedJob(page: Page): Promise<void> {
  await page.goto(`${baseUrl}/admin/queues`);
  await page.locator('#bull-board-sidebar').getByRole('link', { name: 'maintenance', exact: true }).click();
  await page.waitForURL(/\/ops\/admin\/queues\/queue\/maintenance(\?|$)/);
  await page.getByRole('link', { name: /^FAILED/ }).click();
  await page.getByText(`#${failedJob.id}`, { exact: true }).waitFor();
}

/** Clicks the job card's Retry button, confirms if Bull Board shows a confirmation, and returns the status of the retry request. */
async function clickRetry(page: Page): Promise<number> {
  const retried = page.waitForResponse((response) => response.request().method() === 'PUT' && response.url().endsWith(`/maintenance/${failedJob.id}/retry`));
  // The job card's icon buttons have no label; retry is the one with the refresh icon.
  const card = page.getByText(`#${failedJob.id}`, { exact: true }).locator('xpath=ancestor::div[.//button][1]');
  await card.locator('button:has(svg.lucide-refresh-cw)').click();
  const confirm = page.getByRole('button', { name: /^Confirm$/ });
  if (await confirm.isVisible().catch(() => false)) await confirm.click();
  return (await retried).status();
}

async function screenshotOnFailure(page: Page, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    const path = join(tmpdir(), `${uniqueName('bull_board_auth_failure')}.png`);
    await page.screenshot({ path, fullPage: true, timeout: 5000 }).catch(() => undefined);
    console.error(`Bull Board at ${page.url()} failed the checks; screenshot: ${path}`);
    throw error;
  }
}

describe('Bull Board behind a token, under BASE_PATH', () => {
  it('keeps a viewer from retrying a failed job', async () => {
    const { page, failures, violations } = await openBrowser(tokens.viewer!);

    await screenshotOnFailure(page, async () => {
      await openFailedJob(page);
      expect(failures).toEqual([]);
      expect(violations).toEqual([]);
      expect(await page.locator('base').getAttribute('href')).toBe('/ops/admin/queues/');

      const status = await clickRetry(page);

      expect(status).toBe(403);
      expect(await failedJob.getState()).toBe('failed');
    });
  });

  it('lets an operator retry it', async () => {
    const { page, failures } = await openBrowser(tokens.operator!);

    await screenshotOnFailure(page, async () => {
      await openFailedJob(page);
      const status = await clickRetry(page);

      expect(status).toBeLessThan(300);
      expect(failures).toEqual([]);
      await waitFor('the job to leave the failed state', async () => ((await failedJob.getState()) !== 'failed' ? true : undefined));
    });
  });

  it('serves Swagger UI under the prefix within the CSP', async () => {
    const { page, failures, violations } = await openBrowser(TEST_ADMIN_TOKEN);

    await screenshotOnFailure(page, async () => {
      await page.goto(`${baseUrl}/docs`);
      await page.getByRole('heading', { name: /Shipshape API/ }).waitFor();
      await page.getByText('/api/tokens', { exact: true }).first().waitFor();

      expect(failures).toEqual([]);
      expect(violations).toEqual([]);
    });
  });

  it('shows nothing without the login', async () => {
    const response = await fetch(`${baseUrl}/admin/queues`);

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await response.text()).not.toContain('<div id="root">');
  });
});
