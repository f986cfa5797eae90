import { get as httpGet } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CollectorManager, ManagerStatus } from '../../src/api.ts';
import type { CollectorConfigInput } from '../../src/config/schema.ts';
import {
  type AdminRoute,
  type AdminServer,
  type AdminServerOptions,
  startAdminServer,
} from '../../src/service/admin.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';
import { parseSamples, samples, value } from '../support/prometheus-text.ts';
import { promtool, SKIP_PROMTOOL } from '../support/promtool.ts';

const silent = pino({ level: 'silent' });
const TOKEN = 'test-admin-token-0123456789';

interface Setup {
  readonly h: Harness;
  readonly admin: AdminServer;
  readonly url: string;
  shuttingDown: boolean;
}

const open: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

async function setup(
  collectors: readonly Partial<CollectorConfigInput>[] = [{ id: 'a' }],
  options: Partial<AdminServerOptions> = {},
): Promise<Setup> {
  const h = await startHarness();
  open.push(() => h.close());
  for (const config of collectors) h.add(config);
  const state = { shuttingDown: false };
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    manager: h.manager,
    logger: silent,
    isShuttingDown: () => state.shuttingDown,
    ...options,
  });
  open.push(() => admin.close());
  return Object.assign(state, { h, admin, url: admin.url });
}

async function start(s: Setup, ids: readonly string[] = ['a']): Promise<void> {
  s.h.manager.startAll();
  // advanceUntil: the connection pacer spaces the second collector's connection on the clock.
  await s.h.advanceUntil(
    () => ids.every((id) => s.h.manager.getCollector(id)?.getStatus().state === 'subscribed'),
    'subscribed',
  );
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: () => { status?: string; checks?: { name: string; ok: boolean }[] } & Record<
    string,
    unknown
  >;
}

async function request(url: string, init?: RequestInit): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

const checkNames = (a: Answer) => (a.json().checks ?? []).map((c) => c.name);

describe('the admin listener: liveness', () => {
  it('answers /livez and its alias /healthz with 200 while the supervisor is alive', async () => {
    const s = await setup();
    for (const path of ['/livez', '/healthz']) {
      const before = await request(`${s.url}${path}`);
      expect(before.status).toBe(200);
      expect(before.json()).toEqual({ status: 'alive', checks: [] });
    }
    await start(s);
    const verbose = await request(`${s.url}/livez?verbose`);
    expect(verbose.status).toBe(200);
    expect(verbose.json().checks).toEqual([
      expect.objectContaining({ name: 'process', ok: true }),
      expect.objectContaining({ name: 'supervisor', ok: true }),
      expect.objectContaining({ name: 'tick', ok: true }),
    ]);
  });

  it('turns 503 when the supervisor tick stops while its actor stays active', async () => {
    const s = await setup();
    await start(s);
    s.h.advance(5_000);
    expect((await request(`${s.url}/livez`)).status).toBe(200);
    // The manager's clock moves on but no tick runs: as if the supervisor were stuck.
    const health = s.h.manager.health.bind(s.h.manager);
    s.h.manager.health = () => ({ ...health(), now: health().now + 60_000 });
    const stuck = await request(`${s.url}/livez?verbose`);
    expect(stuck.status).toBe(503);
    expect(stuck.json().checks).toContainEqual(
      expect.objectContaining({ name: 'tick', ok: false }),
    );
  });

  it('stays 200 while the exchange is down: it checks nothing outside the process', async () => {
    const s = await setup();
    await start(s);
    s.h.mock.refuseUpgrades(503);
    s.h.mock.dropAll();
    await s.h.advanceUntil(() => ofKind(s.h.telemetry, 'reconnect').length >= 2, 'reconnects');
    expect((await request(`${s.url}/livez`)).status).toBe(200);
    expect((await request(`${s.url}/readyz`)).status).toBe(503);
  });
});

describe('the admin listener: readiness', () => {
  it('answers 503 until every enabled collector is subscribed, then 200', async () => {
    const s = await setup([{ id: 'a' }, { id: 'b', symbols: ['ETH-USDT'] }]);
    const before = await request(`${s.url}/readyz`);
    expect(before.status).toBe(503);
    expect(before.json().status).toBe('not ready');
    expect(checkNames(before)).toEqual(['supervisor', 'collector:a', 'collector:b']);
    expect(before.json().checks?.every((c) => !c.ok)).toBe(true);
    await start(s, ['a', 'b']);
    const ready = await request(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: [] });
  });

  it('lists every check with ?verbose', async () => {
    const s = await setup();
    await start(s);
    const verbose = await request(`${s.url}/readyz?verbose`);
    expect(verbose.status).toBe(200);
    expect(checkNames(verbose)).toEqual(['shutdown', 'supervisor', 'collectors', 'collector:a']);
    expect(verbose.json().checks?.every((c) => c.ok)).toBe(true);
  });

  it('turns 503 during an outage of the exchange and 200 again once it is back', async () => {
    const s = await setup();
    await start(s);
    s.h.mock.refuseUpgrades(503);
    s.h.mock.dropAll();
    await s.h.advanceUntil(() => ofKind(s.h.telemetry, 'reconnect').length >= 2, 'reconnects');
    const down = await request(`${s.url}/readyz`);
    expect(down.status).toBe(503);
    expect(down.json().checks).toEqual([
      { name: 'collector:a', ok: false, message: expect.stringMatching(/^reconnecting since /) },
    ]);
    expect(value((await request(`${s.url}/metrics`)).text, 'market_collector_ready')).toBe(0);
    s.h.mock.refuseUpgrades(null);
    await s.h.advanceUntil(
      () => s.h.manager.getCollector('a')?.getStatus().state === 'subscribed',
      'subscribed again',
    );
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
    expect(value((await request(`${s.url}/metrics`)).text, 'market_collector_ready')).toBe(1);
  });

  it('turns 503 from the first moment of shutdown, while liveness stays 200', async () => {
    const s = await setup();
    await start(s);
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
    s.shuttingDown = true;
    const stopping = await request(`${s.url}/readyz`);
    expect(stopping.status).toBe(503);
    expect(stopping.json().checks).toEqual([
      { name: 'shutdown', ok: false, message: 'shutting down' },
    ]);
    expect((await request(`${s.url}/livez`)).status).toBe(200);
  });

  it('leaves a disabled collector out, but is not ready with none enabled', async () => {
    const s = await setup([{ id: 'a' }, { id: 'b', symbols: ['ETH-USDT'] }]);
    await start(s, ['a', 'b']);
    s.h.manager.disableCollector('b');
    expect((await request(`${s.url}/readyz`)).status).toBe(200);
    s.h.manager.disableCollector('a');
    const none = await request(`${s.url}/readyz`);
    expect(none.status).toBe(503);
    expect(checkNames(none)).toEqual(['collectors']);
  });
});

describe('the admin listener: status', () => {
  it('serves the object getStatus() returns, as JSON', async () => {
    const s = await setup();
    await start(s);
    s.h.mock.push('trades', 'BTC-USDT', 3);
    await s.h.until(() => s.h.events.length >= 3, 'trades');
    const answer = await request(`${s.url}/status`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const { process: _served, ...served } = answer.json();
    const { process: _local, ...local } = JSON.parse(JSON.stringify(s.h.manager.getStatus()));
    expect(served).toEqual(local);
    expect(answer.json().process).toMatchObject({ rssBytes: expect.any(Number) });
  });

  it('sanitizes errors and reasons before they leave the process', async () => {
    const h = await startHarness();
    open.push(() => h.close());
    h.add({ id: 'a' });
    const leaky = (status: ManagerStatus): ManagerStatus => ({
      ...status,
      collectors: status.collectors.map((c) => ({
        ...c,
        lastError: 'refused by wss://user:hunter2@ws.example/ws/v5?sign=abc123 (token=tok-9)',
        lastRestartReason: 'crashed: password=hunter2',
        subscriptions: c.subscriptions.map((sub) => ({ ...sub, message: 'apiKey: key-77' })),
      })),
    });
    const manager: CollectorManager = {
      ...h.manager,
      getStatus: () => leaky(h.manager.getStatus()),
    };
    const admin = await startAdminServer({ host: '127.0.0.1', port: 0, manager, logger: silent });
    open.push(() => admin.close());
    const answer = await request(`${admin.url}/status`);
    expect(answer.status).toBe(200);
    expect(answer.text).not.toMatch(/hunter2|abc123|tok-9|key-77/);
    expect(answer.text).toContain('wss://ws.example/ws/v5');
  });
});

describe('the admin listener: metrics', () => {
  const M = (name: string) => `market_collector_${name}`;

  it('serves the Prometheus text format: application metrics and process defaults', async () => {
    const s = await setup();
    await start(s);
    const answer = await request(`${s.url}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const name of [
      'frames_received_total',
      'received_bytes_total',
      'events_emitted_total',
      'duplicates_dropped_total',
      'faults_total',
      'connection_attempts_total',
      'reconnects_total',
      'restarts_total',
      'state_changes_total',
      'collector_state',
      'subscriptions',
      'books',
      'last_message_timestamp_seconds',
      'ready',
      'event_latency_seconds',
    ]) {
      expect(answer.text).toContain(`# TYPE ${M(name)} `);
    }
    expect(answer.text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(answer.text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    const names = new Set(parseSamples(answer.text).map((s) => s.name));
    const foreign = [...names].filter((n) => !/^(market_collector_|process_|nodejs_)/.test(n));
    expect(foreign).toEqual([]);
  });

  it('counts frames, events, faults, attempts, reconnects and restarts', async () => {
    const s = await setup([{ id: 'a', symbols: ['BTC-USDT', 'NOPE-USDT'] }], {
      latencySampleEvery: 1,
    });
    s.h.mock.unknownInstIds.add('NOPE-USDT');
    await start(s);
    s.h.mock.push('trades', 'BTC-USDT', 5);
    await s.h.until(() => s.h.events.length >= 5, 'trades');
    s.h.mock.refuseUpgrades(503);
    s.h.mock.dropAll();
    await s.h.advanceUntil(() => ofKind(s.h.telemetry, 'reconnect').length >= 2, 'reconnects');
    s.h.mock.refuseUpgrades(null);
    const subscribed = () => s.h.manager.getCollector('a')?.getStatus().state === 'subscribed';
    await s.h.advanceUntil(subscribed, 'subscribed again');
    s.h.manager.restartCollector('a');
    await s.h.advanceUntil(subscribed, 'subscribed after the restart');

    const text = (await request(`${s.url}/metrics`)).text;
    const status = s.h.manager.getStatus().collectors[0];
    const a = { collector: 'a', exchange: 'okx' };
    expect(value(text, M('frames_received_total'), a)).toBe(status?.messages);
    expect(value(text, M('events_emitted_total'), a)).toBe(status?.events);
    expect(value(text, M('events_emitted_total'), a)).toBeGreaterThanOrEqual(5);
    const rejected = status?.faultsByCode['subscribe-rejected'];
    expect(value(text, M('faults_total'), { ...a, code: 'subscribe-rejected' })).toBe(rejected);
    expect(
      value(text, M('connection_attempts_total'), { ...a, result: 'refused' }),
    ).toBeGreaterThan(0);
    expect(value(text, M('connection_attempts_total'), { ...a, result: 'opened' })).toBeGreaterThan(
      1,
    );
    expect(value(text, M('reconnects_total'), { ...a, reason: 'http-503' })).toBeGreaterThan(0);
    expect(value(text, M('reconnects_total'), a)).toBe(status?.reconnects);
    expect(value(text, M('restarts_total'), { ...a, reason: 'requested' })).toBe(1);
    expect(value(text, M('collector_state'), { ...a, state: 'subscribed' })).toBe(1);
    expect(value(text, M('collector_state'), a)).toBe(1);
    expect(samples(text, M('collector_state'), a)).toHaveLength(10);
    const trades = { ...a, channel: 'trades' };
    expect(value(text, M('subscriptions'), { ...trades, state: 'active' })).toBe(1);
    expect(value(text, M('subscriptions'), { ...trades, state: 'failed' })).toBe(1);
    expect(value(text, M('last_message_timestamp_seconds'), trades)).toBe(
      (status?.lastMessageAt.trade ?? 0) / 1_000,
    );
    const latency = { exchange: 'okx', channel: 'trades' };
    expect(value(text, M('event_latency_seconds_count'), latency)).toBeGreaterThanOrEqual(5);
    expect(parseSamples(text).some((sample) => 'symbol' in sample.labels)).toBe(false);
  });

  it('samples the latency of one event in latencySampleEvery', async () => {
    const s = await setup([{ id: 'a' }], { latencySampleEvery: 4 });
    await start(s);
    s.h.mock.push('trades', 'BTC-USDT', 12);
    await s.h.until(() => s.h.events.length >= 12, 'trades');
    const text = (await request(`${s.url}/metrics`)).text;
    const latency = { exchange: 'okx', channel: 'trades' };
    expect(value(text, M('event_latency_seconds_count'), latency)).toBe(3);
  });

  it('adds the symbol label only with metricsSymbols, and counts books by state', async () => {
    const book: Partial<CollectorConfigInput> = {
      id: 'a',
      dataTypes: ['orderbook'],
      bookChannel: 'books',
    };
    const plain = await setup([book]);
    const labelled = await setup([book], { metricsSymbols: true, latencySampleEvery: 1 });
    for (const s of [plain, labelled]) {
      await start(s);
      s.h.mock.push('books', 'BTC-USDT', 3);
      await s.h.until(() => s.h.manager.getBook('BTC-USDT')?.state === 'live', 'live book');
    }
    const a = { collector: 'a', exchange: 'okx', channel: 'books' };
    const without = (await request(`${plain.url}/metrics`)).text;
    expect(value(without, M('books'), { ...a, state: 'live' })).toBe(1);
    expect(samples(without, M('books'), a).some((x) => 'symbol' in x.labels)).toBe(false);
    const withSymbols = (await request(`${labelled.url}/metrics`)).text;
    const btc = { ...a, symbol: 'BTC-USDT' };
    expect(value(withSymbols, M('books'), { ...btc, state: 'live' })).toBe(1);
    expect(value(withSymbols, M('subscriptions'), { ...btc, state: 'active' })).toBe(1);
    const latency = { exchange: 'okx', channel: 'books', symbol: 'BTC-USDT' };
    expect(value(withSymbols, M('event_latency_seconds_count'), latency)).toBeGreaterThan(0);
  });

  it.skipIf(SKIP_PROMTOOL)('passes promtool check metrics', async () => {
    const s = await setup([{ id: 'a' }, { id: 'b', dataTypes: ['orderbook'] }], {
      metricsSymbols: true,
    });
    await start(s, ['a', 'b']);
    s.h.mock.push('trades', 'BTC-USDT', 5);
    s.h.mock.push('books', 'BTC-USDT', 2);
    s.h.manager.restartCollector('a');
    await s.h.advanceUntil(
      () => s.h.manager.getCollector('a')?.getStatus().state === 'subscribed',
      'subscribed after the restart',
    );
    const scrape = (await request(`${s.url}/metrics`)).text;
    const result = promtool(['check', 'metrics'], scrape);
    expect(result.output).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the admin listener: control routes', () => {
  const post = (url: string, token?: string) =>
    request(url, {
      method: 'POST',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  it('do not exist without a token', async () => {
    const s = await setup();
    await start(s);
    for (const action of ['restart', 'enable', 'disable']) {
      expect((await post(`${s.url}/collectors/a/${action}`, TOKEN)).status).toBe(404);
    }
    expect(ofKind(s.h.telemetry, 'restart')).toEqual([]);
  });

  it('answer 401 without a bearer token or with a wrong one, and do nothing', async () => {
    const s = await setup([{ id: 'a' }], { token: TOKEN });
    await start(s);
    const missing = await post(`${s.url}/collectors/a/restart`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="market-collector"');
    expect((await post(`${s.url}/collectors/a/restart`, `${TOKEN}x`)).status).toBe(401);
    expect((await post(`${s.url}/collectors/a/restart`, TOKEN.slice(1))).status).toBe(401);
    const basic = await request(`${s.url}/collectors/a/restart`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(401);
    // An unknown id answers 401 as well: without the token, ids are not disclosed.
    expect((await post(`${s.url}/collectors/nope/restart`)).status).toBe(401);
    expect(ofKind(s.h.telemetry, 'restart')).toEqual([]);
  });

  it('answer 404 for an unknown collector', async () => {
    const s = await setup([{ id: 'a' }], { token: TOKEN });
    const answer = await post(`${s.url}/collectors/nope/restart`, TOKEN);
    expect(answer.status).toBe(404);
    expect(answer.json()).toEqual({ error: 'unknown collector', id: 'nope' });
  });

  it('restart, disable and enable a collector', async () => {
    const s = await setup([{ id: 'a' }], { token: TOKEN });
    await start(s);
    const restart = await post(`${s.url}/collectors/a/restart`, TOKEN);
    expect(restart.status).toBe(200);
    expect(restart.json()).toMatchObject({ ok: true, id: 'a', action: 'restart' });
    expect(ofKind(s.h.telemetry, 'restart')).toEqual([
      expect.objectContaining({ collectorId: 'a', reason: 'requested' }),
    ]);
    const disable = await post(`${s.url}/collectors/a/disable`, TOKEN);
    expect(disable.json()).toMatchObject({ ok: true, action: 'disable', state: 'disabled' });
    expect(s.h.manager.getCollector('a')?.getStatus().enabled).toBe(false);
    const enable = await post(`${s.url}/collectors/a/enable`, TOKEN);
    expect(enable.status).toBe(200);
    await s.h.advanceUntil(
      () => s.h.manager.getCollector('a')?.getStatus().state === 'subscribed',
      'subscribed after enable',
    );
    const wrongMethod = await request(`${s.url}/collectors/a/restart`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

describe('the admin listener: routing and lifecycle', () => {
  it('answers 404 for an unknown path, 405 with Allow for a wrong method, and HEAD', async () => {
    const s = await setup();
    const missing = await request(`${s.url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'not found' });
    const wrong = await request(`${s.url}/status`, { method: 'POST' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
    const head = await request(`${s.url}/livez`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });

  it('mounts the routes of other modules, and refuses a route mounted twice', async () => {
    const hello: AdminRoute = {
      method: 'GET',
      path: '/hello',
      handle: (_req, res, url) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`hello ${url.searchParams.get('name') ?? ''}`);
      },
    };
    const s = await setup([{ id: 'a' }], { routes: [hello] });
    expect((await request(`${s.url}/hello?name=ops`)).text).toBe('hello ops');
    const twice = { ...hello, path: '/status' };
    await expect(setup([{ id: 'a' }], { routes: [twice] })).rejects.toThrow(
      'admin route GET /status is mounted twice',
    );
  });

  it('answers 500, sanitized, when a mounted route throws', async () => {
    const broken: AdminRoute = {
      method: 'GET',
      path: '/broken',
      handle: () => {
        throw new Error('failed with password=hunter2');
      },
    };
    const s = await setup([{ id: 'a' }], { routes: [broken] });
    const answer = await request(`${s.url}/broken`);
    expect(answer.status).toBe(500);
    expect(answer.text).not.toContain('hunter2');
    expect((await request(`${s.url}/livez`)).status).toBe(200);
  });

  it('closes open event streams on close(), which is idempotent', async () => {
    const events: AdminRoute = {
      method: 'GET',
      path: '/events',
      handle: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': open\n\n');
      },
    };
    const s = await setup([{ id: 'a' }], { routes: [events] });
    const ended = new Promise<void>((resolve, reject) => {
      httpGet(`${s.url}/events`, (res) => {
        res.once('data', () => undefined);
        res.once('close', resolve);
      }).once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = s.admin.close();
    expect(s.admin.close()).toBe(closing);
    await closing;
    await ended;
    await expect(fetch(`${s.url}/livez`)).rejects.toThrow();
  });

  it('rejects with EADDRINUSE when the port is taken', async () => {
    const s = await setup();
    const port = Number(new URL(s.url).port);
    await expect(
      startAdminServer({ host: '127.0.0.1', port, manager: s.h.manager, logger: silent }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
