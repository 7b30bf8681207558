import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJobId } from '../../src/jobs/email/email-queue.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { TEST_ADMIN_TOKEN, buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Bull Board's page links a Google Fonts stylesheet. Every host name except
  // 127.0.0.1 resolves to "not found", so the browser sends nothing off this machine.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
const BROWSER_TIMEOUT_MS = 20_000;

const prefix = uniqueName('bull_board');
let database: TestDatabase;
let smtp: TestSmtpServer;
let app: FastifyInstance;
let workers: TestWorkers;
let profileDir: string | undefined;
let browser: BrowserContext | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}; install Debian's package with "apt-get update && apt-get install -y chromium" (.ci/run does this)`,
    );
  }

  database = await createTestDatabase('bull_board');
  smtp = await startSmtpServer();
  smtp.setRecipientRule(() => 550);
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, SMTP_URL: smtp.url });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['email'], definitions: jobDefinitions });
});

afterAll(async () => {
  await browser?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await workers?.close();
  await app?.close();
  await smtp?.stop();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

/** Starts Chromium with a fresh profile and aborts every request that leaves 127.0.0.1. */
async function openBrowser(): Promise<BrowserContext> {
  profileDir = await mkdtemp(join(tmpdir(), 'shipshape-chromium-'));
  // Playwright passes profileDir as --user-data-dir and rejects that flag in `args`.
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    // Narrower windows scroll the status tabs sideways and can hide FAILED.
    viewport: { width: 1280, height: 720 },
    // Bull Board requires HTTP Basic credentials: any user name, an API token as password.
    httpCredentials: { username: 'test', password: TEST_ADMIN_TOKEN },
    timeout: 30_000,
  });
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort('blockedbyclient'),
  );
  return context;
}

/** Saves a full-page screenshot under the temp folder and returns where it went, or why it could not. */
async function saveScreenshot(page: Page): Promise<string> {
  const path = join(tmpdir(), `${uniqueName('bull_board_failure')}.png`);
  try {
    await page.screenshot({ path, fullPage: true, timeout: 5000 });
    return path;
  } catch (error) {
    return `none (${error instanceof Error ? error.message : String(error)})`;
  }
}

describe('Bull Board in a browser', () => {
  it('shows a rejected email on the failed tab', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/emails',
      payload: { to: 'gone@fleet.example', subject: 'Crew change at Rotterdam', text: 'Boarding pass attached.' },
    });
    expect(response.statusCode).toBe(202);
    const { id } = response.json();
    const jobId = sendJobId(id);

    const job = await waitFor(`send job ${jobId} to fail`, async () => {
      const current = await app.queues.email.getJob(jobId);
      return current && (await current.getState()) === 'failed' ? current : undefined;
    });
    expect(job.failedReason).toContain('SMTP rejected the message');
    expect(job.failedReason).toContain('550');

    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    browser = await openBrowser();
    const page = browser.pages()[0] ?? (await browser.newPage());

    try {
      await page.goto(`http://127.0.0.1:${port}/admin/queues`);
      await page.locator('#bull-board-sidebar').getByRole('link', { name: 'email', exact: true }).click();
      await page.waitForURL(/\/admin\/queues\/queue\/email(\?|$)/);
      await page.getByRole('link', { name: /^FAILED/ }).click();
      await page.waitForURL(/\/admin\/queues\/queue\/email\?status=failed$/);

      const failedTab = page.locator('a[aria-current="page"]', { hasText: 'FAILED' });
      await failedTab.waitFor();
      expect(await failedTab.innerText()).toMatch(/FAILED\s*1$/);

      const jobLink = page.getByRole('link', { name: new RegExp(`^${jobId}`) });
      await jobLink.waitFor();
      expect(await jobLink.innerText()).toContain('send-email');

      // A failed job's card opens on its Error tab, which shows the stack trace.
      const errorTab = page.getByRole('tab', { name: 'Error', selected: true });
      await errorTab.waitFor();
      const errorPanel = page.getByRole('tabpanel').filter({ hasText: 'SMTP rejected the message' });
      await errorPanel.waitFor();
      const errorText = await errorPanel.innerText();
      expect(errorText).toContain('SMTP rejected the message');
      expect(errorText).toContain('550');
      expect(errorText).toContain('gone@fleet.example');
    } catch (error) {
      console.error(`Bull Board at ${page.url()} failed the checks; screenshot: ${await saveScreenshot(page)}`);
      throw error;
    }
  });
});
