import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { EMPTY, Subject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { CollectorManager, ManagerOptions } from '../../src/api.ts';
import { ConfigError, DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { main } from '../../src/service/cli.ts';
import { createInspector, type Inspector, sanitize } from '../../src/service/inspect.ts';
import type { CliIo } from '../../src/service/io.ts';
import { type Harness, startHarness } from '../support/harness.ts';
import { waitFor } from '../support/mock-okx.ts';

/** A stand-in for the inspector relay on 127.0.0.1: keeps every message and counts sockets. */
interface Relay {
  readonly url: string;
  readonly port: number;
  readonly messages: string[];
  readonly sockets: WebSocket[];
  closed(): number;
  close(): Promise<void>;
}

async function startRelay(port = 0): Promise<Relay> {
  const server = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const messages: string[] = [];
  const sockets: WebSocket[] = [];
  let closed = 0;
  server.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('message', (data: RawData) => messages.push(data.toString()));
    socket.on('close', () => closed++);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${address.port}`,
    port: address.port,
    messages,
    sockets,
    closed: () => closed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of server.clients) socket.terminate();
        server.close(() => resolve());
      }),
  };
}

/** The fields of Stately inspection events this test reads. */
interface Received {
  readonly type: string;
  readonly sessionId: string;
  readonly name?: string;
  readonly _version?: string;
  readonly event?: { readonly type: string };
  readonly snapshot?: { readonly value?: unknown; readonly status?: string };
}

/** The connection's state in one word, as the status API spells it. */
function word(value: unknown): string {
  if (typeof value === 'string') return value;
  const live = (value as { live?: unknown } | null)?.live;
  if (typeof live === 'string') return live;
  const subscription = (live as { open?: { subscription?: unknown } } | undefined)?.open
    ?.subscription;
  if (typeof subscription === 'string') return subscription;
  return subscription === undefined ? 'unknown' : 'subscribed';
}

/** Snapshots of the actor registered under `name`, in order of arrival. */
function snapshotsOf(received: readonly Received[], name: string): Received[] {
  const sessions = new Set(
    received.filter((m) => m.type === '@xstate.actor' && m.name === name).map((m) => m.sessionId),
  );
  return received.filter((m) => m.type === '@xstate.snapshot' && sessions.has(m.sessionId));
}

/** The states a connection went through, repeats collapsed. */
function path(snapshots: readonly Received[]): string[] {
  const words = snapshots.map((s) => word(s.snapshot?.value));
  return words.filter((w, i) => w !== words[i - 1]);
}

/** From the state before the first reconnect up to the next `subscribed`. */
function reconnect(states: readonly string[]): string[] {
  const down = states.indexOf('reconnecting');
  return states.slice(down - 1, states.indexOf('subscribed', down) + 1);
}

const SECRETS = ['alice', 'hunter2', 'tok-123'];
const TRADE_IDS = [987_650_001, 987_650_002];

let h: Harness | undefined;
let relay: Relay | undefined;
let inspector: Inspector | undefined;
afterEach(async () => {
  await h?.close();
  await inspector?.stop();
  await relay?.close();
  h = undefined;
  relay = undefined;
  inspector = undefined;
});

describe('the Stately inspector over WebSocket', () => {
  it('shows a reconnect as the connection actor transitions, and nothing secret or market data', async () => {
    const r = await startRelay();
    relay = r;
    const ins = createInspector(r.url);
    inspector = ins;
    const t = await startHarness({ manager: { inspect: ins } });
    h = t;
    // Credentials and a token in the endpoint: the collector's context and input carry them.
    const endpoint = `${t.mock.url.replace('ws://', 'ws://alice:hunter2@')}?token=tok-123`;
    const a = t.add({ id: 'a', endpoint });
    const b = t.add({ id: 'b', endpoint, symbols: ['ETH-USDT'] });
    const state = (id: string) => t.manager.getCollector(id)?.getStatus().state;
    const both = (s: string) => () => state(a) === s && state(b) === s;
    t.manager.startAll();
    t.advance(1_000);
    await t.until(both('subscribed'), 'both subscribed');

    t.mock.pushTrades('BTC-USDT', TRADE_IDS);
    t.mock.push('tickers', 'BTC-USDT', 3);
    await t.until(() => t.events.filter((e) => e.type === 'trade').length === 2, 'trades');
    await t.until(() => t.events.some((e) => e.type === 'ticker'), 'a ticker');

    t.mock.dropAll('terminate');
    await t.until(both('reconnecting'), 'both reconnecting');
    // Both backoffs end at once; two connections fit in OKX's 3 per second, so neither queues.
    t.advance(30_000);
    await t.until(() => state(a) === 'subscribed' || state(b) === 'subscribed', 'first again');
    t.advance(1_000);
    await t.until(both('subscribed'), 'both subscribed again');

    // A heartbeat round (check, ping, pong) that the lifecycle filter keeps away from the relay.
    const pings = () => t.mock.received.filter((f) => f.text === 'ping').length;
    t.advance(DEFAULT_TIMERS.pingIntervalMs);
    await t.until(() => pings() === 2, 'pings');
    await t.until(
      () => t.manager.getCollector(a)?.getStatus().connections[0]?.heartbeat === 'waiting',
      'pong',
    );

    await t.close();
    h = undefined;
    await ins.stop();
    await waitFor(() => r.closed() === 1, 2_000, 'the inspector closed its socket');

    const received = r.messages.map((text) => JSON.parse(text) as Received);
    expect(new Set(received.map((m) => m.type))).toEqual(
      new Set(['@xstate.actor', '@xstate.snapshot']),
    );
    expect(received.every((m) => typeof m._version === 'string' && m.sessionId !== '')).toBe(true);
    const names = received.filter((m) => m.type === '@xstate.actor').map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining(['supervisor', 'a', 'b', 'a/public#1']));

    const seen = [
      path(snapshotsOf(received, 'a/public#1')),
      path(snapshotsOf(received, 'b/public#1')),
    ];
    expect(seen.map(reconnect)).toEqual([
      ['subscribed', 'reconnecting', 'connecting', 'subscribing', 'subscribed'],
      ['subscribed', 'reconnecting', 'connecting', 'subscribing', 'subscribed'],
    ]);
    for (const states of seen) expect(states.slice(-2)).toEqual(['closing', 'stopped']);
    const causes = snapshotsOf(received, 'a/public#1').map((s) => s.event?.type);
    expect(causes).toContain('SOCKET.CLOSED');
    expect(causes).toContain('xstate.after.backoffDelay.connection.reconnecting');
    for (const heartbeat of ['SOCKET.ACTIVE', 'SOCKET.PINGED', 'SOCKET.PONG']) {
      expect(causes).not.toContain(heartbeat);
    }
    expect(causes.some((c) => c?.startsWith('xstate.after.idleCheck.'))).toBe(false);

    const all = r.messages.join('\n');
    for (const secret of SECRETS) expect(all).not.toContain(secret);
    for (const id of TRADE_IDS) expect(all).not.toContain(String(id));
    for (const field of ['tradeId', 'bidPx', 'askPx']) expect(all).not.toContain(field);
  });

  it('reconnects to a relay that dropped it, and stops for good: once, closing with 1000', async () => {
    const r = await startRelay();
    relay = r;
    const ins = createInspector(r.url, { retryMs: 10 });
    inspector = ins;
    await waitFor(() => r.sockets.length === 1, 2_000, 'first connection');
    r.sockets[0]?.terminate();
    await waitFor(() => r.sockets.length === 2, 2_000, 'reconnected');
    const codes: number[] = [];
    r.sockets[1]?.on('close', (code) => codes.push(code));
    await Promise.all([ins.stop(), ins.stop()]);
    await ins.stop();
    await waitFor(() => codes.length === 1, 2_000, 'closed');
    expect(codes).toEqual([1000]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.sockets).toHaveLength(2);
  });

  it('stops retrying an unreachable relay when stopped', async () => {
    const gone = await startRelay();
    await gone.close();
    const ins = createInspector(gone.url, { retryMs: 10 });
    inspector = ins;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await ins.stop();
    // The relay comes back on the same port: a stopped inspector must not find it.
    const back = await startRelay(gone.port);
    relay = back;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(back.sockets).toHaveLength(0);
  });

  it('rejects a relay URL that is not ws:// or wss://, naming the option', () => {
    for (const url of ['http://127.0.0.1:8080', 'localhost:8080', '']) {
      try {
        createInspector(url);
        expect.unreachable(`accepted ${url}`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).issues[0]?.field).toBe('inspect');
      }
    }
  });
});

describe('sanitize', () => {
  it('replaces secret-named fields and strips URL credentials and query strings at any depth', () => {
    const clean = sanitize({
      apiKey: 'k3y-abc',
      config: {
        endpoint: 'wss://alice:hunter2@ws.okx.com:8443/ws/v5/private?token=tok-123',
        credentials: { secretKey: 's3cr3t', passphrase: 'p4ss' },
        nested: [{ password: 'p4ss', accessToken: 'tok-123', note: 'sign=abc' }],
      },
      frames: ['{"op":"login","args":[{"apiKey":"k3y-abc","sign":"s1gn"}]}'],
    });
    const text = JSON.stringify(clean);
    for (const secret of ['k3y-abc', 'hunter2', 'alice', 'tok-123', 's3cr3t', 'p4ss', 's1gn']) {
      expect(text).not.toContain(secret);
    }
    expect(clean).toMatchObject({
      apiKey: '[redacted]',
      config: { endpoint: 'wss://ws.okx.com:8443/ws/v5/private', credentials: '[redacted]' },
    });
    // Names are matched whole: a collector id that merely contains one stays readable.
    expect(sanitize({ 'token-feed': { state: 'running' } })).toEqual({
      'token-feed': { state: 'running' },
    });
  });

  it('reduces errors to name and message, cuts cycles, drops functions and never throws', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    const hostile = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('no');
        },
      },
    );
    const clean = sanitize({
      error: new Error('dial wss://bob:pw@h/x?apiKey=k failed'),
      loop,
      run: () => 1,
      big: 10n,
    });
    expect(clean).toEqual({
      error: { name: 'Error', message: 'dial wss://h/x failed' },
      loop: { name: 'loop', self: '[circular]' },
      big: '10',
    });
    expect(sanitize(hostile)).toBe('[redacted]');
  });
});

/** `main` with a manager that does nothing, and a signal source the test fires. */
function cliWith(
  createManager: (options: ManagerOptions) => void,
  started: () => Promise<void> = async () => undefined,
) {
  const chunks: string[] = [];
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const signals = new EventEmitter();
  const io: CliIo = {
    stdout: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    stderr,
    env: { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' },
    signals,
    exit: () => undefined,
    logDestination: { write: () => undefined },
    createManager: (options) => {
      createManager(options);
      const manager = {
        data$: new Subject(),
        telemetry$: EMPTY,
        startAll: () => void started().then(() => signals.emit('SIGINT')),
        stopAll: async () => undefined,
        listCollectors: () => [],
      };
      return manager as unknown as CollectorManager;
    },
  };
  return { io, stderr: () => chunks.join('') };
}

describe('market-collector run --inspect', () => {
  it('hands the manager an inspector and closes its socket when the run ends', async () => {
    const r = await startRelay();
    relay = r;
    let inspect: ManagerOptions['inspect'];
    const { io } = cliWith(
      (options) => {
        inspect = options.inspect;
      },
      () => waitFor(() => r.sockets.length === 1, 2_000, 'inspector connected'),
    );
    const code = await main(['run', '--symbols', 'BTC-USDT', '--inspect', r.url], io);
    expect(code).toBe(0);
    expect(typeof (inspect as { next?: unknown } | undefined)?.next).toBe('function');
    await waitFor(() => r.closed() === 1, 2_000, 'inspector socket closed');
  });

  it('exits 2 for a relay URL that is not ws://, before any manager exists', async () => {
    let created = 0;
    const cli = cliWith(() => created++);
    const code = await main(['run', '--symbols', 'BTC-USDT', '--inspect', 'http://x'], cli.io);
    expect(code).toBe(2);
    expect(cli.stderr()).toContain('inspect: got "http://x"');
    expect(created).toBe(0);
  });
});
