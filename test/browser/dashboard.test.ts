import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import pino from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectorManager, ManagerStatus } from '../../src/api.ts';
import { DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { type AdminRoute, type AdminServer, startAdminServer } from '../../src/service/admin.ts';
import { dashboardRoutes } from '../../src/service/dashboard.ts';
import { createTimeline } from '../../src/service/timeline.ts';
import { type Harness, startHarness } from '../support/harness.ts';

/**
 * The dashboard in a real browser: Debian's Chromium (`.ci/run` installs it), driven headless by
 * playwright-core, against a run on the mock exchange. Skipped only on a machine without Chromium
 * outside CI; in CI a missing browser fails the test. With DASHBOARD_SCREENSHOT=FILE set, the
 * page after the reconnect is saved there (`npm run screenshot` writes docs/dashboard.png).
 */

const CHROMIUM = '/usr/bin/chromium';
const SKIP = !existsSync(CHROMIUM) && process.env.CI === undefined;
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT;
/** Errors and reasons come from the network: markup in them must show as text, never run. */
const HOSTILE = '<img src=x onerror="window.__xss=1">';
const WAIT_MS = 5_000;

describe.skipIf(SKIP)('dashboard in headless Chromium', () => {
  let browser: Browser | undefined;
  let h: Harness | undefined;
  let admin: AdminServer | undefined;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await admin?.close();
    await h?.close();
    await browser?.close();
  });

  const row = (page: Page, id: string) => page.locator(`tr[data-collector="${id}"]`);
  const badge = (page: Page, id: string, state: string) =>
    row(page, id).locator('.state .badge', { hasText: new RegExp(`^${state}$`) });

  it('shows the collectors of a run and reflects a forced reconnect', async () => {
    // The timeline reads the harness's simulated clock, which exists only with the harness.
    let now = () => Date.now();
    const timeline = createTimeline(200, () => now());
    const harness = await startHarness({ manager: { inspect: timeline.observer } });
    h = harness;
    now = () => harness.clock.now();
    harness.add({ id: 'okx-majors', symbols: ['BTC-USDT', 'ETH-USDT'] });
    harness.add({ id: 'okx-books', dataTypes: ['orderbook'] });
    admin = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      manager: harness.manager,
      logger: pino({ level: 'silent' }),
      routes: dashboardRoutes({
        manager: harness.manager,
        timeline,
        now: () => harness.clock.now(),
      }),
    });
    harness.manager.startAll();
    const subscribed = (id: string) =>
      harness.manager.getCollector(id)?.getStatus().state === 'subscribed';
    const allSubscribed = () => ['okx-majors', 'okx-books'].every(subscribed);
    await harness.advanceUntil(allSubscribed, 'collectors subscribed');
    harness.mock.push('trades', 'BTC-USDT', 5);
    harness.mock.push('tickers', 'BTC-USDT', 2);
    pushBook(harness, 1_000);
    await harness.until(() => harness.manager.getBook('BTC-USDT')?.state === 'live', 'live book');

    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 960 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${admin.url}/dashboard`);

    await expect.poll(() => page.title()).toBe('market-collector dashboard');
    const majors = row(page, 'okx-majors');
    await badge(page, 'okx-majors', 'subscribed').waitFor({ timeout: WAIT_MS });
    await badge(page, 'okx-books', 'subscribed').waitFor({ timeout: WAIT_MS });
    expect(await majors.textContent()).toContain('BTC-USDT, ETH-USDT');
    await page.locator('#verdict', { hasText: 'ready' }).waitFor({ timeout: WAIT_MS });
    await page.locator('#books tr', { hasText: 'live' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#process').textContent()).toContain('MiB');

    harness.mock.dropAll('terminate');
    await badge(page, 'okx-majors', 'reconnecting').waitFor({ timeout: WAIT_MS });
    await page.locator('#verdict', { hasText: 'down' }).waitFor({ timeout: WAIT_MS });
    harness.advance(30_000);
    await harness.advanceUntil(allSubscribed, 'collectors subscribed again');
    await badge(page, 'okx-majors', 'subscribed').waitFor({ timeout: WAIT_MS });
    await majors.locator('.reconnects', { hasText: /^[1-9]/ }).waitFor({ timeout: WAIT_MS });
    const drop = page.locator('#timeline li', { hasText: 'okx-majors/public#1' }).filter({
      hasText: '→ reconnecting',
    });
    await drop.first().waitFor({ timeout: WAIT_MS });
    expect(await drop.first().textContent()).toContain('SOCKET.CLOSED');
    expect(errors).toEqual([]);

    if (SCREENSHOT !== undefined) {
      harness.mock.push('trades', 'BTC-USDT', 5);
      harness.mock.push('tickers', 'BTC-USDT', 2);
      pushBook(harness, 2_000);
      await page.locator('#books tr', { hasText: 'live' }).waitFor({ timeout: WAIT_MS });
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
    await page.close();
  });

  it('shows markup in errors and reasons as text, never as markup', async () => {
    const status = hostileStatus();
    const manager = { getStatus: () => status, getBook: () => undefined };
    // The routes alone, on a bare server: the admin listener needs a whole manager.
    const server = await serveRoutes(
      dashboardRoutes({
        manager: manager as unknown as CollectorManager,
        timeline: createTimeline(),
      }),
    );
    try {
      const page = await (browser as Browser).newPage();
      await page.goto(server.url);
      const hostile = page.locator('#collectors tbody tr').first();
      await hostile.waitFor({ timeout: WAIT_MS });
      expect(await hostile.locator('.error').textContent()).toBe(HOSTILE);
      expect(await page.locator('#reasons').textContent()).toContain(HOSTILE);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
      await page.close();
    } finally {
      await server.close();
    }
  });
});

/** A small `books` snapshot; OKX sends checksum 0 since it retired the checksum. */
function pushBook(harness: Harness, seqId: number): void {
  const level = (px: number, sz: string) => [px.toFixed(1), sz, '0', '1'];
  harness.mock.pushBook('BTC-USDT', {
    action: 'snapshot',
    seqId,
    bids: [level(64_040.1, '0.8125'), level(64_040.0, '1.5'), level(64_039.6, '0.02')],
    asks: [level(64_040.2, '0.3391'), level(64_040.5, '2.1'), level(64_041.0, '0.75')],
  });
}

async function serveRoutes(routes: readonly AdminRoute[]) {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const route = routes.find((r) => r.method === req.method && r.path === url.pathname);
    if (route === undefined) res.writeHead(404).end();
    else void route.handle(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A status as if every text field had come from a hostile peer. */
function hostileStatus(): ManagerStatus {
  const collector = {
    id: HOSTILE,
    exchange: HOSTILE,
    symbols: [HOSTILE],
    dataTypes: ['ticker'],
    enabled: true,
    lifecycle: 'running',
    state: HOSTILE,
    since: Date.now(),
    connections: [{ id: HOSTILE, state: HOSTILE }],
    subscriptions: [],
    reconnects: 0,
    restarts: 0,
    lastError: HOSTILE,
    messages: 0,
    faults: 0,
    lastMessageAt: {},
    silenceMs: { ...DEFAULT_TIMERS.silenceMs },
  };
  const process = { rssBytes: 1, heapUsedBytes: 1, heapTotalBytes: 1 };
  return { uptimeMs: 1, collectors: [collector], process } as unknown as ManagerStatus;
}
