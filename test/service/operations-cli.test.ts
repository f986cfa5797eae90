import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { EMPTY, Subject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CollectorManager, ManagerOptions } from '../../src/api.ts';
import { loadServiceConfig } from '../../src/config/load.ts';
import { DEFAULT_HTTP, parseListenAddress } from '../../src/config/schema.ts';
import { type AdminServer, startAdminServer } from '../../src/service/admin.ts';
import { main } from '../../src/service/cli.ts';
import type { CliIo } from '../../src/service/io.ts';
import { duration, statusUrl } from '../../src/service/status.ts';
import { type Harness, startHarness } from '../support/harness.ts';

/** The operator's side of the command line: `--http`, `status`, `exchanges`. In process. */

interface Cli {
  readonly io: CliIo;
  readonly signals: EventEmitter;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly logs: Record<string, unknown>[];
  readonly managers: ManagerOptions[];
}

function cli(env: Record<string, string> = {}, tty = false): Cli {
  const out: string[] = [];
  const err: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const managers: ManagerOptions[] = [];
  const signals = new EventEmitter();
  const writable = (chunks: string[]) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    });
  const stdout = Object.assign(writable(out), { isTTY: tty });
  const io: CliIo = {
    stdout,
    stderr: writable(err),
    env,
    signals,
    exit: () => undefined,
    logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
    createManager: (options) => {
      managers.push(options);
      const manager = {
        data$: new Subject(),
        telemetry$: EMPTY,
        startAll: () => queueMicrotask(() => signals.emit('SIGTERM')),
        stopAll: async () => undefined,
        listCollectors: () => [],
      };
      return manager as unknown as CollectorManager;
    },
  };
  return {
    io,
    signals,
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    logs,
    managers,
  };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serving(): Promise<{ h: Harness; admin: AdminServer }> {
  const h = await startHarness();
  closers.push(() => h.close());
  h.add({ id: 'okx-majors', symbols: ['BTC-USDT', 'NOPE-USDT'] });
  h.mock.unknownInstIds.add('NOPE-USDT');
  const logger = pino({ level: 'silent' });
  const admin = await startAdminServer({ host: '127.0.0.1', port: 0, manager: h.manager, logger });
  closers.push(() => admin.close());
  h.manager.startAll();
  await h.until(
    () => h.manager.getCollector('okx-majors')?.getStatus().state === 'subscribed',
    'subscribed',
  );
  return { h, admin };
}

describe('the --http setting', () => {
  it('defaults to 127.0.0.1:9464 and takes the flag over MARKET_COLLECTOR_HTTP', async () => {
    const base = { flags: { symbols: 'BTC-USDT' } };
    expect((await loadServiceConfig({ ...base, env: {} })).http).toBe(DEFAULT_HTTP);
    const env = { MARKET_COLLECTOR_HTTP: '0.0.0.0:9500' };
    expect((await loadServiceConfig({ ...base, env })).http).toBe('0.0.0.0:9500');
    const flags = { ...base.flags, http: '[::1]:0' };
    expect((await loadServiceConfig({ flags, env })).http).toBe('[::1]:0');
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('localhost:65536')).toBeUndefined();
  });

  it('exits 2 naming the field for a malformed address or metrics switch', async () => {
    const bad = cli();
    expect(await main(['run', '--symbols', 'BTC-USDT', '--http', '9464'], bad.io)).toBe(2);
    expect(bad.stderr()).toContain('http: got "9464", expected HOST:PORT');
    const demo = cli({ MARKET_COLLECTOR_HTTP: 'nowhere' });
    expect(await main(['demo', '--loops', '1'], demo.io)).toBe(2);
    expect(demo.stderr()).toContain('http: got "nowhere", expected HOST:PORT');
    const symbols = cli({ MARKET_COLLECTOR_METRICS_SYMBOLS: 'maybe' });
    expect(await main(['run', '--symbols', 'BTC-USDT'], symbols.io)).toBe(2);
    expect(symbols.stderr()).toContain(
      'MARKET_COLLECTOR_METRICS_SYMBOLS: got "maybe", expected true or false',
    );
    expect([...bad.managers, ...symbols.managers]).toEqual([]);
  });

  it('starts no listener with off', async () => {
    const off = cli();
    expect(await main(['run', '--symbols', 'BTC-USDT', '--http', 'off'], off.io)).toBe(0);
    expect(off.logs.some((line) => line.msg === 'collectors started')).toBe(true);
    expect(off.logs.some((line) => line.msg === 'admin listening')).toBe(false);
  });

  it('logs where it listens, and whether control is on, from the token variable', async () => {
    const on = cli({ MARKET_COLLECTOR_ADMIN_TOKEN: 'short' });
    expect(await main(['run', '--symbols', 'BTC-USDT', '--http', '127.0.0.1:0'], on.io)).toBe(0);
    const line = on.logs.find((l) => l.msg === 'admin listening');
    expect(line).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(line?.control).toBe(true);
    const weak = on.logs.find(
      (l) => l.msg === 'MARKET_COLLECTOR_ADMIN_TOKEN is short enough to guess',
    );
    expect(weak).toMatchObject({ level: 40 });
    expect(JSON.stringify(on.logs)).not.toContain('"short"');
  });

  it('exits 1 naming the address when the port is taken', async () => {
    const { admin } = await serving();
    const taken = new URL(admin.url).host;
    const run = cli();
    expect(await main(['run', '--symbols', 'BTC-USDT', '--http', taken], run.io)).toBe(1);
    expect(run.stderr()).toContain(`admin listener on ${taken} failed`);
    expect(run.stderr()).toContain('EADDRINUSE');
  });
});

describe('market-collector status', () => {
  it('prints a table of the collectors with the failed subscriptions below', async () => {
    const { admin } = await serving();
    const c = cli();
    expect(await main(['status', '--url', admin.url], c.io)).toBe(0);
    const lines = c.stdout().split('\n');
    expect(lines[0]).toMatch(/^up \S+; 1 collector \(subscribed 1\); \d+ faults$/);
    expect(lines[1]).toMatch(/^COLLECTOR +EXCHANGE +STATE +FOR +SUBS +RECONNECTS/);
    expect(lines[2]).toMatch(/^okx-majors +okx +subscribed +\S+ +2\/4 +0 +0 /);
    expect(c.stdout()).toContain('okx-majors: trades:NOPE-USDT failed 60018');
    expect(c.stdout()).not.toContain('\u001b[');
  });

  it('prints a line per order book below, with its state, sequence, resyncs and last fault', async () => {
    const { h, admin } = await serving();
    h.add({ id: 'okx-books', symbols: ['BTC-USDT', 'ETH-USDT'], dataTypes: ['orderbook'] });
    h.manager.startAll();
    const books = () => h.manager.getCollector('okx-books')?.getStatus().books ?? [];
    await h.advanceUntil(
      () => h.manager.getCollector('okx-books')?.getStatus().state === 'subscribed',
      'books subscribed',
    );
    h.mock.pushBook('BTC-USDT', { action: 'snapshot', seqId: 10, bids: [['100', '1', '0', '1']] });
    h.mock.pushBook('ETH-USDT', { action: 'snapshot', seqId: 50, asks: [['11', '1', '0', '1']] });
    await h.until(() => books().every((b) => b.state === 'live') && books().length === 2);
    h.mock.pushBook('BTC-USDT', { action: 'update', seqId: 200, prevSeqId: 99 });
    await h.until(() => books()[0]?.resyncs === 1, 'resynced');

    const c = cli();
    expect(await main(['status', '--url', admin.url], c.io)).toBe(0);
    const lines = c.stdout().split('\n');
    const header = lines.findIndex((l) => l.startsWith('COLLECTOR  BOOK'));
    expect(lines[header]).toMatch(
      /^COLLECTOR +BOOK +STATE +SEQUENCE +RESYNCS +UPDATED +LAST FAULT$/,
    );
    expect(lines[header + 1]).toMatch(
      /^okx-books +books:BTC-USDT +invalid +- +1 +\S+ ago +book-sequence-gap \S+ ago$/,
    );
    expect(lines[header + 2]).toMatch(/^okx-books +books:ETH-USDT +live +50 +0 +\S+ ago +-$/);

    const json = cli();
    expect(await main(['status', '--json', '--url', admin.url], json.io)).toBe(0);
    const printed = JSON.parse(json.stdout());
    const collector = printed.collectors.find((x: { id: string }) => x.id === 'okx-books');
    expect(collector.books[0]).toMatchObject({
      channel: 'books',
      symbol: 'BTC-USDT',
      state: 'invalid',
      resyncs: 1,
      lastFault: { code: 'book-sequence-gap', detail: expect.any(String), at: expect.any(Number) },
      updatedAt: expect.any(Number),
    });
  });

  it('colors states on a terminal, or with FORCE_COLOR, and never with NO_COLOR', async () => {
    const { admin } = await serving();
    const tty = cli({}, true);
    expect(await main(['status', '--url', admin.url], tty.io)).toBe(0);
    expect(tty.stdout()).toContain('\u001b[32msubscribed');
    const forced = cli({ FORCE_COLOR: '1' });
    await main(['status', '--url', admin.url], forced.io);
    expect(forced.stdout()).toContain('\u001b[32msubscribed');
    const plain = cli({ NO_COLOR: '1', FORCE_COLOR: '1' }, true);
    await main(['status', '--url', admin.url], plain.io);
    expect(plain.stdout()).not.toContain('\u001b[');
  });

  it('prints the JSON of /status with --json', async () => {
    const { h, admin } = await serving();
    const c = cli();
    expect(await main(['status', '--json', '--url', `${admin.url}/status`], c.io)).toBe(0);
    const printed = JSON.parse(c.stdout());
    expect(printed.collectors[0]).toMatchObject({ id: 'okx-majors', state: 'subscribed' });
    expect(printed.startedAt).toBe(h.manager.getStatus().startedAt);
  });

  it('redraws with --watch until SIGINT, and exits 0', async () => {
    const { admin } = await serving();
    const c = cli();
    const exit = main(['status', '--watch', '--url', admin.url], c.io);
    await vi.waitFor(() => expect(c.stdout()).toContain('Ctrl-C to stop'));
    c.signals.emit('SIGINT');
    expect(await exit).toBe(0);
    expect(c.stdout()).toMatch(/^okx-majors +okx +subscribed/m);
    expect(c.signals.listenerCount('SIGINT')).toBe(0);
  });

  it('exits 1 for an unreachable service and 2 for a URL that is not http', async () => {
    const gone = cli();
    expect(await main(['status', '--url', 'http://127.0.0.1:1'], gone.io)).toBe(1);
    expect(gone.stderr()).toMatch(/^market-collector: cannot read http:\/\/127\.0\.0\.1:1\/status/);
    const ftp = cli();
    expect(await main(['status', '--url', 'ftp://x'], ftp.io)).toBe(2);
    expect(ftp.stderr()).toContain('url: got "ftp://x", expected an http:// URL');
  });

  it('finds the service where MARKET_COLLECTOR_HTTP puts it', () => {
    expect(statusUrl(undefined, {})).toBe('http://127.0.0.1:9464/status');
    expect(statusUrl(undefined, { MARKET_COLLECTOR_HTTP: '0.0.0.0:9500' })).toBe(
      'http://127.0.0.1:9500/status',
    );
    expect(statusUrl(undefined, { MARKET_COLLECTOR_HTTP: '[::]:9500' })).toBe(
      'http://[::1]:9500/status',
    );
    expect(statusUrl('http://collector-a:9464', {})).toBe('http://collector-a:9464/status');
    expect(duration(850)).toBe('850ms');
    expect(duration(303_000)).toBe('5m03s');
    expect(duration(3_720_000)).toBe('1h02m');
    expect(duration(273_600_000)).toBe('3d04h');
  });
});

describe('market-collector exchanges', () => {
  it('lists the supported exchanges as JSON with --json', async () => {
    const c = cli();
    expect(await main(['exchanges', '--json'], c.io)).toBe(0);
    expect(JSON.parse(c.stdout())).toEqual([
      {
        id: 'okx',
        dataTypes: ['trade', 'ticker', 'orderbook', 'candle'],
        defaultEndpoint: 'wss://ws.okx.com:8443/ws/v5',
      },
    ]);
  });
});
