import { EventEmitter } from 'node:events';
import { type ClientRequest, get as httpGet, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { CollectorStatus, ManagerStatus } from '../../src/api.ts';
import type { CollectorConfigInput } from '../../src/config/schema.ts';
import { type AdminServer, startAdminServer } from '../../src/service/admin.ts';
import {
  attachDashboard,
  createRateSampler,
  type DashboardSnapshot,
  dashboardRoutes,
  dataAge,
  verdictOf,
} from '../../src/service/dashboard.ts';
import { DASHBOARD_PAGE } from '../../src/service/dashboard-page.ts';
import { demoCommand } from '../../src/service/demo.ts';
import type { CliIo } from '../../src/service/io.ts';
import {
  combineObservers,
  createTimeline,
  stateLabel,
  type Timeline,
} from '../../src/service/timeline.ts';
import { type Harness, startHarness } from '../support/harness.ts';

const silent = pino({ level: 'silent' });
const open: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

interface Setup {
  readonly h: Harness;
  readonly timeline: Timeline;
  readonly admin: AdminServer;
  readonly drops: number[];
}

async function setup(collectors: readonly Partial<CollectorConfigInput>[]): Promise<Setup> {
  const timeline = createTimeline();
  const h = await startHarness({ manager: { inspect: timeline.observer } });
  open.push(() => h.close());
  for (const config of collectors) h.add(config);
  const drops: number[] = [];
  const routes = dashboardRoutes({
    manager: h.manager,
    timeline,
    now: () => h.clock.now(),
    intervalMs: 50,
    dropConnections: () => drops.push(h.clock.now()),
  });
  const admin = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    manager: h.manager,
    logger: silent,
    routes,
  });
  open.push(() => admin.close());
  return { h, timeline, admin, drops };
}

const allSubscribed = (h: Harness) =>
  h.manager.getStatus().collectors.every((c) => c.state === 'subscribed');

interface EventStream {
  readonly snapshots: DashboardSnapshot[];
  readonly raw: () => string;
  readonly ended: Promise<void>;
  next(predicate: (s: DashboardSnapshot) => boolean, what: string): Promise<DashboardSnapshot>;
  close(): void;
}

function openEvents(url: string): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const snapshots: DashboardSnapshot[] = [];
    const waiters = new Set<() => void>();
    let request: ClientRequest | undefined;
    let endedResolve: () => void = () => undefined;
    const ended = new Promise<void>((r) => {
      endedResolve = r;
    });
    request = httpGet(`${url}/events`, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type']).includes('event-stream')) {
        reject(new Error(`events answered ${res.statusCode} ${res.headers['content-type']}`));
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        const blocks = raw.split('\n\n');
        snapshots.length = 0;
        for (const block of blocks.slice(0, -1)) {
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          if (data !== undefined) snapshots.push(JSON.parse(data.slice(6)) as DashboardSnapshot);
        }
        for (const wake of waiters) wake();
      });
      res.on('close', () => endedResolve());
      resolve({
        snapshots,
        raw: () => raw,
        ended,
        next(predicate, what) {
          return new Promise((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no snapshot with ${what} in time`));
            }, 5_000);
            const check = () => {
              const found = snapshots.find(predicate);
              if (found === undefined) return;
              clearTimeout(timer);
              waiters.delete(check);
              done(found);
            };
            waiters.add(check);
            check();
          });
        },
        close: () => request?.destroy(),
      });
    });
    request.on('error', reject);
  });
}

function fetchText(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard: the page', () => {
  it('serves one self-contained page on / and /dashboard, locked down by its CSP', async () => {
    const s = await setup([{ id: 'a' }]);
    for (const path of ['/', '/dashboard']) {
      const res = await fetchText(`${s.admin.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toBe(DASHBOARD_PAGE);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
      expect(csp).not.toContain('unsafe-inline');
    }
    const head = await fetchText(`${s.admin.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('loads nothing from elsewhere and writes no snapshot text as markup', () => {
    expect(DASHBOARD_PAGE).not.toMatch(/\b(?:src|href)="(?!data:)/);
    expect(DASHBOARD_PAGE).not.toMatch(/https?:\/\//);
    expect(DASHBOARD_PAGE).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

describe('dashboard: the event stream', () => {
  it('sends a full snapshot at once, then updates as the collectors change', async () => {
    const s = await setup([{ id: 'a' }]);
    const events = await openEvents(s.admin.url);
    open.push(async () => events.close());
    const first = await events.next(() => true, 'anything');
    expect(first.collectors.map((c) => c.id)).toEqual(['a']);
    expect(first.verdict.state).toBe('down');
    expect(events.raw()).toMatch(/^retry: \d+\n/);

    s.h.manager.startAll();
    await s.h.advanceUntil(() => allSubscribed(s.h), 'subscribed');
    const ready = await events.next((x) => x.verdict.state === 'ready', 'verdict ready');
    expect(ready.verdict.reasons).toEqual([]);
    expect(ready.collectors[0]).toMatchObject({ id: 'a', state: 'subscribed', reconnects: 0 });
    expect(ready.process.rssBytes).toBeGreaterThan(0);
    const subscribed = ready.timeline.find(
      (t) => t.machine === 'connection' && t.to === 'subscribed',
    );
    expect(subscribed).toMatchObject({ actor: 'a/public#1', event: 'CONNECTION.SUBSCRIBED' });
  });

  it('shows a forced reconnect in the row and the timeline, with its reason', async () => {
    const s = await setup([{ id: 'a' }]);
    s.h.manager.startAll();
    await s.h.advanceUntil(() => allSubscribed(s.h), 'subscribed');
    const events = await openEvents(s.admin.url);
    open.push(async () => events.close());
    s.h.mock.dropAll('terminate');
    await events.next((x) => x.collectors[0]?.state === 'reconnecting', 'reconnecting');
    await s.h.advanceUntil(() => allSubscribed(s.h), 'subscribed again');
    const after = await events.next(
      (x) => x.collectors[0]?.state === 'subscribed' && x.collectors[0].reconnects === 1,
      'subscribed after one reconnect',
    );
    const drop = after.timeline.find((t) => t.to === 'reconnecting');
    expect(drop).toMatchObject({ actor: 'a/public#1', event: 'SOCKET.CLOSED' });
    expect(drop?.reason).toMatch(/1006/);
    expect(after.timeline.find((t) => t.from === 'reconnecting')?.event).toBe('after backoffDelay');
    // Newest first: the resubscription comes before the drop.
    const back = after.timeline.findIndex((t) => t.to === 'subscribed');
    expect(back).toBeLessThan(after.timeline.indexOf(drop as never));
  });

  it('ends the stream when the admin server closes', async () => {
    const s = await setup([{ id: 'a' }]);
    const events = await openEvents(s.admin.url);
    await events.next(() => true, 'anything');
    await s.admin.close();
    await events.ended;
  });

  it('keeps serving other pages after one goes away', async () => {
    const s = await setup([{ id: 'a' }]);
    const gone = await openEvents(s.admin.url);
    await gone.next(() => true, 'anything');
    gone.close();
    await gone.ended;
    const events = await openEvents(s.admin.url);
    open.push(async () => events.close());
    s.h.manager.startAll();
    await s.h.advanceUntil(() => allSubscribed(s.h), 'subscribed');
    await events.next((x) => x.verdict.state === 'ready', 'verdict ready');
  });

  it('shows book state and top of book for orderbook collectors', async () => {
    const s = await setup([{ id: 'b', dataTypes: ['orderbook'] }]);
    s.h.manager.startAll();
    await s.h.advanceUntil(() => allSubscribed(s.h), 'subscribed');
    s.h.mock.push('books', 'BTC-USDT', 1);
    await s.h.until(() => s.h.manager.getBook('BTC-USDT')?.state === 'live', 'live book');
    const events = await openEvents(s.admin.url);
    open.push(async () => events.close());
    const snapshot = await events.next((x) => x.books[0]?.state === 'live', 'live book');
    const book = s.h.manager.getBook('BTC-USDT', { depth: 1 });
    expect(snapshot.books).toEqual([
      {
        collectorId: 'b',
        symbol: 'BTC-USDT',
        channel: 'books',
        state: 'live',
        bestBid: book?.bestBid,
        bestAsk: book?.bestAsk,
        sequence: book?.sequence,
        resyncs: 0,
      },
    ]);
  });

  it('drops the demo connections only on a request from the page itself', async () => {
    const s = await setup([{ id: 'a' }]);
    const path = `${s.admin.url}/actions/drop-connections`;
    expect((await fetchText(path, { method: 'POST' })).status).toBe(403);
    const crossSite = { 'x-dashboard': '1', 'sec-fetch-site': 'cross-site' };
    expect((await fetchText(path, { method: 'POST', headers: crossSite })).status).toBe(403);
    expect(s.drops).toHaveLength(0);
    const ok = await fetchText(path, { method: 'POST', headers: { 'x-dashboard': '1' } });
    expect(ok.status).toBe(200);
    expect(s.drops).toHaveLength(1);
  });

  it('has no drop route unless the demo offers one', () => {
    const routes = dashboardRoutes({ manager: {} as never, timeline: createTimeline() });
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /',
      'GET /dashboard',
      'GET /events',
    ]);
    const admin = { host: '127.0.0.1', port: 0, token: undefined, metricsSymbols: false };
    expect(attachDashboard(undefined, { manager: {} as never, timeline: createTimeline() })).toBe(
      undefined,
    );
    const attached = attachDashboard(admin, { manager: {} as never, timeline: createTimeline() });
    expect(attached?.routes?.map((r) => r.path)).toEqual(['/', '/dashboard', '/events']);
  });
});

describe('dashboard: the demo', () => {
  it('drops the demo connections from the page and shows the reconnect', async () => {
    const logs: Record<string, unknown>[] = [];
    const signals = new EventEmitter();
    const discard = () => new Writable({ write: (_chunk, _encoding, done) => done() });
    const io: CliIo = {
      stdout: discard(),
      stderr: discard(),
      env: { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' },
      signals: signals as unknown as CliIo['signals'],
      exit: () => undefined,
      logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
    };
    const running = demoCommand({ speed: '20' }, io);
    try {
      const listening = () => logs.find((l) => l.msg === 'admin listening')?.url;
      await vi.waitFor(() => expect(listening()).toBeTypeOf('string'), { timeout: 5_000 });
      const url = String(listening());
      const events = await openEvents(url);
      open.push(async () => events.close());
      await events.next((x) => x.verdict.state === 'ready', 'demo subscribed');
      const headers = { 'x-dashboard': '1' };
      const drop = await fetchText(`${url}/actions/drop-connections`, { method: 'POST', headers });
      expect(drop.status).toBe(200);
      const after = await events.next(
        (x) => x.collectors[0]?.reconnects === 1 && x.verdict.state === 'ready',
        'subscribed again after one reconnect',
      );
      expect(after.actions).toEqual(['drop-connections']);
      expect(
        after.timeline.some((t) => t.to === 'reconnecting' && t.actor === 'demo/public#1'),
      ).toBe(true);
      expect(logs.some((l) => l.msg === 'demo connections dropped')).toBe(true);
    } finally {
      signals.emit('SIGINT');
      expect(await running).toBe(0);
    }
  });
});

describe('dashboard: verdict, ages and rates', () => {
  const collector = (over: Partial<CollectorStatus>): CollectorStatus =>
    ({
      id: 'a',
      enabled: true,
      state: 'subscribed',
      lastError: undefined,
      subscriptions: [],
      ...over,
    }) as CollectorStatus;
  const status = (...collectors: CollectorStatus[]) => ({ collectors }) as unknown as ManagerStatus;

  it('is ready when every enabled collector is subscribed', () => {
    const verdict = verdictOf(status(collector({}), collector({ id: 'b', enabled: false })));
    expect(verdict).toEqual({ state: 'ready', reasons: [] });
  });

  it('is degraded when some are not, and says which and why', () => {
    const verdict = verdictOf(
      status(
        collector({}),
        collector({ id: 'b', state: 'reconnecting', lastError: 'closed 1006' }),
      ),
    );
    expect(verdict).toEqual({ state: 'degraded', reasons: ['b is reconnecting: closed 1006'] });
  });

  it('is degraded by a failed subscription, naming its exchange code', () => {
    const subscriptions = [
      { dataType: 'ticker', symbol: 'NOPE', channel: 'tickers', state: 'failed', code: '60018' },
    ] as unknown as CollectorStatus['subscriptions'];
    const verdict = verdictOf(status(collector({ subscriptions })));
    expect(verdict).toEqual({
      state: 'degraded',
      reasons: ['a: ticker NOPE subscription failed (code 60018)'],
    });
  });

  it('is down when no enabled collector is subscribed, or none is enabled', () => {
    expect(verdictOf(status(collector({ state: 'failed' }))).state).toBe('down');
    expect(verdictOf(status(collector({ enabled: false })))).toEqual({
      state: 'down',
      reasons: ['no collector is enabled'],
    });
  });

  it('keeps credentials out of reasons', () => {
    const lastError = 'refused by wss://user:pw@ws.example/ws?apiKey=abc';
    const verdict = verdictOf(status(collector({ state: 'error', lastError })));
    expect(verdict.reasons[0]).not.toMatch(/pw@|apiKey=abc/);
  });

  it('judges the last message against the data type’s silence threshold', () => {
    expect(dataAge('ticker', 1_000, 11_000)).toEqual({
      dataType: 'ticker',
      ageMs: 10_000,
      thresholdMs: 60_000,
      freshness: 'ok',
    });
    expect(dataAge('ticker', 1_000, 41_000).freshness).toBe('late');
    expect(dataAge('ticker', 1_000, 61_000).freshness).toBe('stale');
    expect(dataAge('ticker', undefined, 61_000).freshness).toBe('none');
    expect(dataAge('trade', 1_000, 61_000)).toMatchObject({ thresholdMs: 0, freshness: 'off' });
  });

  it('derives messages per second from successive counters', () => {
    let at = 0;
    const sampler = createRateSampler(() => at);
    const counts = (a: number, b: number) =>
      status(collector({ messages: a }), collector({ id: 'b', messages: b }));
    expect(sampler.sample(counts(10, 5)).size).toBe(0);
    at = 500;
    const rates = sampler.sample(counts(60, 3));
    expect(rates.get('a')).toBe(100);
    // b's counter went down: it was restarted, and one sample has no rate.
    expect(rates.has('b')).toBe(false);
    expect(sampler.last()).toBe(rates);
  });
});

describe('timeline', () => {
  const ref = (id: string) => ({ id, sessionId: id }) as unknown as AnyActorRef;
  const snapshotEvent = (
    actor: AnyActorRef,
    value: unknown,
    type: string,
    context: Record<string, unknown> = {},
  ) =>
    ({
      type: '@xstate.snapshot',
      actorRef: actor,
      rootId: 'x:0',
      event: { type },
      snapshot: { value, status: 'active', machine: { id: 'connection' }, context },
    }) as unknown as InspectionEvent;

  it('keeps state changes with actor, from, to, event and reason', () => {
    let now = 1_000;
    const timeline = createTimeline(200, () => now);
    const conn = ref('a/public#1');
    timeline.observer.next?.(snapshotEvent(conn, 'queued', 'xstate.init'));
    now = 2_000;
    timeline.observer.next?.(
      snapshotEvent(conn, 'reconnecting', 'SOCKET.CLOSED', { lastReason: 'closed 1006' }),
    );
    expect(timeline.entries()).toEqual([
      {
        seq: 1,
        at: 1_000,
        actor: 'a/public#1',
        machine: 'connection',
        from: undefined,
        to: 'queued',
        event: 'xstate.init',
        reason: undefined,
      },
      {
        seq: 2,
        at: 2_000,
        actor: 'a/public#1',
        machine: 'connection',
        from: 'queued',
        to: 'reconnecting',
        event: 'SOCKET.CLOSED',
        reason: 'closed 1006',
      },
    ]);
  });

  it('leaves out the heartbeat, the silence judge and snapshots that changed no state', () => {
    const timeline = createTimeline();
    const conn = ref('c');
    const open = (heartbeat: string, judge: string) => ({
      live: { open: { heartbeat, subscription: { subscribed: judge } } },
    });
    timeline.observer.next?.(snapshotEvent(conn, open('waiting', 'watching'), 'SOCKET.OPEN'));
    timeline.observer.next?.(
      snapshotEvent(conn, open('checking', 'watching'), 'SOCKET.CHECK_IDLE'),
    );
    timeline.observer.next?.(snapshotEvent(conn, open('checking', 'watching'), 'xstate.after.x'));
    timeline.observer.next?.(snapshotEvent(conn, open('waiting', 'judging'), 'xstate.after.y'));
    timeline.observer.next?.(
      snapshotEvent(conn, open('waiting', 'judging'), 'xstate.after.idleCheck.connection.live'),
    );
    timeline.observer.next?.({ type: '@xstate.event' } as unknown as InspectionEvent);
    expect(timeline.entries().map((e) => e.to)).toEqual(['subscribed']);
  });

  it('keeps only the latest entries, and takes the supervisor for the root actor', () => {
    const timeline = createTimeline(2);
    const root = ref('x:0');
    for (const value of ['idle', 'running', 'stopped']) {
      const event = snapshotEvent(root, value, 'E') as unknown as { snapshot: object };
      event.snapshot = { value, machine: { id: 'supervisor' } };
      timeline.observer.next?.(event as unknown as InspectionEvent);
    }
    expect(timeline.entries().map((e) => [e.seq, e.actor, e.to])).toEqual([
      [2, 'supervisor', 'running'],
      [3, 'supervisor', 'stopped'],
    ]);
  });

  it('labels states by their path, parallel regions in braces', () => {
    expect(stateLabel('idle')).toBe('idle');
    expect(stateLabel({ running: 'watching' })).toBe('running.watching');
    expect(stateLabel({ a: { b: 'x', c: 'y' } })).toBe('a.{b.x | c.y}');
    expect(stateLabel({ live: 'connecting' })).toBe('connecting');
  });

  it('hands every event to each combined observer, whatever one of them does', () => {
    const seen: string[] = [];
    const combined = combineObservers<string>(
      () => {
        throw new Error('broken observer');
      },
      undefined,
      (e) => seen.push(`fn ${e}`),
      { next: (e) => seen.push(`observer ${e}`) },
    );
    combined.next?.('x');
    expect(seen).toEqual(['fn x', 'observer x']);
  });
});
