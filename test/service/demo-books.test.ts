import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CollectorManager, ManagerStatus } from '../../src/api.ts';
import { createCollectorManager } from '../../src/machines/manager.ts';
import type { DashboardSnapshot } from '../../src/service/dashboard.ts';
import { type DemoFlags, demoCollectors, demoCommand } from '../../src/service/demo.ts';
import type { CliIo } from '../../src/service/io.ts';
import { loadReplayProgram } from '../../src/service/recordings.ts';
import type { MarketEvent } from '../../src/streams/events.ts';

/** The books the demo keeps: `collectorId symbol`, one per recorded book stream. */
const BOOKS = ['demo-books BTC-USD-220527', 'demo-books BTC-USDT', 'demo-books UNI-USD-SWAP'];

interface DemoRun {
  /** stdout, one parsed event per line, as they came. */
  readonly events: MarketEvent[];
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<number>;
  manager(): CollectorManager;
  /** The admin listener's base URL, once it listens. */
  adminUrl(): Promise<string>;
  /** Ctrl-C, then the exit code. */
  stop(): Promise<number>;
}

const running: DemoRun[] = [];

afterEach(async () => {
  for (const run of running.splice(0)) await run.stop();
});

function startDemo(flags: DemoFlags): DemoRun {
  const events: MarketEvent[] = [];
  const logs: Record<string, unknown>[] = [];
  const signals = new EventEmitter();
  let pending = '';
  const stdout = new Writable({
    write(chunk, _encoding, done) {
      const lines = (pending + String(chunk)).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') events.push(JSON.parse(line) as MarketEvent);
      done();
    },
  });
  let manager: CollectorManager | undefined;
  const io: CliIo = {
    stdout,
    stderr: new Writable({ write: (_chunk, _encoding, done) => done() }),
    env: { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' },
    signals: signals as unknown as CliIo['signals'],
    exit: () => undefined,
    logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
    createManager: (options) => {
      manager = createCollectorManager(options);
      return manager;
    },
  };
  const exited = demoCommand(flags, io);
  let stopped: Promise<number> | undefined;
  const run: DemoRun = {
    events,
    logs,
    exited,
    manager: () => {
      if (manager === undefined) throw new Error('the demo has not created its manager yet');
      return manager;
    },
    async adminUrl() {
      const url = () => logs.find((l) => l.msg === 'admin listening')?.url;
      await vi.waitFor(() => expect(url()).toBeTypeOf('string'), { timeout: 5_000 });
      return String(url());
    },
    stop() {
      stopped ??= Promise.resolve().then(() => {
        signals.emit('SIGINT');
        return exited;
      });
      return stopped;
    },
  };
  running.push(run);
  return run;
}

/** The first snapshot the dashboard's event stream sends. */
async function dashboardSnapshot(url: string): Promise<DashboardSnapshot> {
  const abort = new AbortController();
  const res = await fetch(`${url}/events`, { signal: abort.signal });
  const reader = res.body?.getReader();
  if (reader === undefined) throw new Error('the event stream has no body');
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended before its first snapshot');
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    abort.abort();
  }
  const data = text.split('\n').find((line) => line.startsWith('data: '));
  return JSON.parse(data?.slice('data: '.length) ?? '{}') as DashboardSnapshot;
}

async function liveBooksOnDashboard(url: string): Promise<string[]> {
  const snapshot = await dashboardSnapshot(url);
  return snapshot.books
    .filter((b) => b.state === 'live' && b.bestBid !== undefined && b.bestAsk !== undefined)
    .map((b) => `${b.collectorId} ${b.symbol}`)
    .sort();
}

/** Every fault code counted, by the manager and by each collector (dropped updates too). */
function faultCodes(status: ManagerStatus): string[] {
  return [
    ...Object.keys(status.faultsByCode),
    ...status.collectors.flatMap((c) => Object.keys(c.faultsByCode)),
  ];
}

const bookKey = (e: MarketEvent) => `${e.collectorId} ${e.symbol}`;

describe('demo: order books and candles', () => {
  it('collects every recorded channel with a collector of its own', () => {
    const channels = new Map([
      ['books', ['BTC-USDT']],
      ['books5', ['BTC-USDT-SWAP']],
      ['candle1m', ['BTC-USDT']],
      ['tickers', ['BTC-USDT', 'ETH-USDT']],
      ['trades', ['BTC-USDT', 'BTC-USDT-SWAP', 'ETH-USDT']],
    ]);
    const collectors = demoCollectors({ channels, endpoint: 'ws://127.0.0.1:1/ws/v5' });
    expect(collectors.map(({ id, symbols, dataTypes }) => ({ id, symbols, dataTypes }))).toEqual([
      { id: 'demo', symbols: ['BTC-USDT', 'ETH-USDT'], dataTypes: ['trade', 'ticker'] },
      { id: 'demo-books', symbols: ['BTC-USDT'], dataTypes: ['orderbook'] },
      { id: 'demo-books5', symbols: ['BTC-USDT-SWAP'], dataTypes: ['orderbook'] },
      { id: 'demo-candle1m', symbols: ['BTC-USDT'], dataTypes: ['candle'] },
    ]);
    expect(collectors[1]?.bookChannel).toBe('books');
    expect(collectors[3]?.candleInterval).toBe('1m');
  });

  it('emits every recorded book frame as a book_change, pass after pass, with no book fault', async () => {
    const program = await loadReplayProgram();
    // Two passes: the second is re-stamped and starts each book over with its snapshot.
    const run = startDemo({ speed: '20', loops: '2' });
    // Sampled while it runs: a stopped collector's books are reset.
    let last: ManagerStatus | undefined;
    const sample = setInterval(() => {
      try {
        last = run.manager().getStatus();
      } catch {
        // Not created yet.
      }
    }, 20);
    try {
      expect(await run.exited).toBe(0);
    } finally {
      clearInterval(sample);
    }
    const changes = run.events.filter((e) => e.type === 'book_change');
    for (const key of BOOKS) {
      const [collectorId, symbol] = key.split(' ');
      const channel = collectorId?.slice('demo-'.length);
      const recorded = program.frames.filter((f) => f.channel === channel && f.instId === symbol);
      const received = changes.filter((e) => bookKey(e) === key);
      expect(received.length, key).toBe(2 * recorded.length);
      expect(received[0]?.isSnapshot, key).toBe(true);
      expect(received[recorded.length]?.isSnapshot, key).toBe(true);
      expect(received.filter((e) => e.isSnapshot)).toHaveLength(2);
    }
    const resets = run.events.filter((e) => e.type === 'book_reset');
    expect(resets.filter((e) => e.reason !== 'reconnect')).toEqual([]);
    const candles = run.events.filter((e) => e.type === 'candle');
    expect(candles.length).toBe(2 * program.frames.filter((f) => f.channel === 'candle1m').length);
    expect(last).toBeDefined();
    expect(faultCodes(last as ManagerStatus).filter((code) => code.startsWith('book-'))).toEqual(
      [],
    );
  });

  it('shows the books live on the dashboard, their subscriptions active in /status', async () => {
    const run = startDemo({ speed: '10' });
    const url = await run.adminUrl();
    await vi.waitFor(async () => expect(await liveBooksOnDashboard(url)).toEqual(BOOKS), {
      timeout: 10_000,
      interval: 100,
    });
    const status = (await (await fetch(`${url}/status`)).json()) as ManagerStatus;
    const books = status.collectors.flatMap((c) =>
      c.subscriptions.filter((s) => s.dataType === 'orderbook').map((s) => ({ c, s })),
    );
    expect(books.map(({ c, s }) => `${c.id} ${s.symbol}`).sort()).toEqual(BOOKS);
    for (const { c, s } of books) {
      expect(s.state).toBe('active');
      expect(c.lastMessageAt.orderbook).toBeTypeOf('number');
    }
    expect(faultCodes(status).filter((code) => code.startsWith('book-'))).toEqual([]);
    expect(run.manager().getBook('BTC-USDT')?.state).toBe('live');
    expect(await run.stop()).toBe(0);
  });

  it('resets the books when the connections drop and brings them back live', async () => {
    const run = startDemo({ speed: '10' });
    const url = await run.adminUrl();
    await vi.waitFor(async () => expect(await liveBooksOnDashboard(url)).toEqual(BOOKS), {
      timeout: 10_000,
      interval: 100,
    });
    const before = run.events.length;
    const drop = await fetch(`${url}/actions/drop-connections`, {
      method: 'POST',
      headers: { 'x-dashboard': '1' },
    });
    expect(drop.status).toBe(200);
    await vi.waitFor(
      async () => {
        const after = run.events.slice(before);
        const reset = after.filter((e) => e.type === 'book_reset');
        expect(reset.map(bookKey).sort()).toEqual(BOOKS);
        expect(reset.every((e) => e.type === 'book_reset' && e.reason === 'reconnect')).toBe(true);
        // Each book starts over from a snapshot after its reset, as the product requires.
        for (const key of BOOKS) {
          const book = after.filter((e) => bookKey(e) === key);
          const next = book[book.findIndex((e) => e.type === 'book_reset') + 1];
          expect(next?.type === 'book_change' && next.isSnapshot, key).toBe(true);
        }
        expect(await liveBooksOnDashboard(url)).toEqual(BOOKS);
      },
      { timeout: 10_000, interval: 100 },
    );
    const status = run.manager().getStatus();
    expect(status.collectors.every((c) => c.reconnects === 1)).toBe(true);
    expect(faultCodes(status).filter((code) => code.startsWith('book-'))).toEqual([]);
    expect(await run.stop()).toBe(0);
  });
});
