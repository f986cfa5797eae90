import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { EMPTY, Subject } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import type { CollectorManager, ManagerOptions } from '../../src/api.ts';
import { main, USAGE } from '../../src/service/cli.ts';
import type { CliIo } from '../../src/service/io.ts';
import type { MarketEvent, TradeEvent } from '../../src/streams/events.ts';

/** A writable that keeps what it is given, a little later each time, like a slow reader. */
function sink(
  options: { highWaterMark?: number; fail?: (chunk: string) => Error | undefined } = {},
) {
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark: options.highWaterMark ?? 16_384,
    write(chunk: Buffer, _encoding, callback) {
      const text = chunk.toString();
      const error = options.fail?.(text);
      if (error !== undefined) return callback(error);
      chunks.push(text);
      setImmediate(callback);
    },
  });
  return { stream, text: () => chunks.join('') };
}

interface Harness {
  readonly io: CliIo;
  readonly stdout: ReturnType<typeof sink>;
  readonly stderr: ReturnType<typeof sink>;
  readonly logs: Record<string, unknown>[];
  readonly signals: EventEmitter;
  readonly exits: number[];
  readonly manager: FakeManager;
}

interface FakeManager {
  readonly data$: Subject<MarketEvent>;
  readonly options: ManagerOptions[];
  starts: number;
  stops: number;
  /** Resolves stopAll; set to hold it open. */
  stopGate: Promise<void>;
}

function harness(stdout = sink()): Harness {
  const fake: FakeManager = {
    data$: new Subject(),
    options: [],
    starts: 0,
    stops: 0,
    stopGate: Promise.resolve(),
  };
  const createManager = (options: ManagerOptions) => {
    fake.options.push(options);
    const manager = {
      data$: fake.data$,
      telemetry$: EMPTY,
      startAll: () => {
        fake.starts += 1;
      },
      stopAll: async () => {
        fake.stops += 1;
        await fake.stopGate;
      },
      listCollectors: () => [],
    };
    return manager as unknown as CollectorManager;
  };
  const logs: Record<string, unknown>[] = [];
  const signals = new EventEmitter();
  const exits: number[] = [];
  const stderr = sink();
  const io: CliIo = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: {},
    signals,
    exit: (code) => exits.push(code),
    logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
    createManager,
  };
  return { io, stdout, stderr, logs, signals, exits, manager: fake };
}

function trade(id: number): TradeEvent {
  return {
    type: 'trade',
    exchange: 'okx',
    symbol: 'BTC-USDT',
    timestamp: 1_786_538_760_218 + id,
    localTimestamp: 1_786_538_760_300 + id,
    collectorId: 'c1',
    id: String(id),
    price: 64_040.2,
    amount: 0.0024,
    side: 'buy',
  };
}

const RUN = ['run', '--symbols', 'BTC-USDT'];

describe('market-collector: command line', () => {
  it('exits 2 and names field and value for an invalid log level', async () => {
    const h = harness();
    expect(await main([...RUN, '--log-level', 'nope'], h.io)).toBe(2);
    expect(h.stderr.text()).toContain('logLevel');
    expect(h.stderr.text()).toContain('"nope"');
    expect(h.manager.options).toEqual([]);
  });

  it('exits 2 and names field and value for an unknown data type', async () => {
    const h = harness();
    expect(await main([...RUN, '--data-types', 'foo'], h.io)).toBe(2);
    expect(h.stderr.text()).toContain('dataTypes');
    expect(h.stderr.text()).toContain('"foo"');
  });

  it('exits 2 with the usage for an unknown flag, command or none', async () => {
    for (const argv of [['run', '--nope'], ['serve'], [], ['demo', 'extra']]) {
      const h = harness();
      expect(await main(argv, h.io)).toBe(2);
      expect(h.stderr.text()).toContain(USAGE);
    }
  });

  it('prints the usage on --help and exits 0', async () => {
    for (const argv of [['--help'], ['run', '--help'], ['demo', '-h']]) {
      const h = harness();
      expect(await main(argv, h.io)).toBe(0);
      expect(h.stdout.text()).toBe(USAGE);
    }
  });

  it('exits 2 for invalid demo flags before starting anything', async () => {
    const h = harness();
    expect(await main(['demo', '--speed', '0', '--loops', '-1'], h.io)).toBe(2);
    expect(h.stderr.text()).toContain('speed');
    expect(h.stderr.text()).toContain('loops');
    expect(h.manager.options).toEqual([]);
  });
});

describe('market-collector run', () => {
  it('writes one JSON event per line and stops cleanly on SIGTERM', async () => {
    const h = harness();
    const exit = main([...RUN, '--data-types', 'trade'], h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    expect(h.manager.options[0]?.collectors?.[0]).toMatchObject({
      exchange: 'okx',
      symbols: ['BTC-USDT'],
      dataTypes: ['trade'],
    });
    const events = [trade(1), trade(2), trade(3)];
    for (const event of events) h.manager.data$.next(event);
    h.signals.emit('SIGTERM');
    expect(await exit).toBe(0);
    expect(h.manager.stops).toBe(1);
    expect(h.exits).toEqual([]);
    expect(h.stdout.text()).toBe(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    expect(h.signals.listenerCount('SIGTERM')).toBe(0);
    expect(h.signals.listenerCount('SIGINT')).toBe(0);
  });

  it('exits at once with 130 on a second SIGINT while stopping', async () => {
    const h = harness();
    let release: () => void = () => undefined;
    h.manager.stopGate = new Promise((resolve) => {
      release = resolve;
    });
    const exit = main(RUN, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    h.signals.emit('SIGINT');
    await vi.waitFor(() => expect(h.manager.stops).toBe(1));
    h.signals.emit('SIGINT');
    expect(h.exits).toEqual([130]);
    release();
    expect(await exit).toBe(0);
  });

  it('uses 143 for a second SIGTERM', async () => {
    const h = harness();
    h.manager.stopGate = new Promise(() => undefined);
    void main(RUN, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    h.signals.emit('SIGTERM');
    await vi.waitFor(() => expect(h.manager.stops).toBe(1));
    h.signals.emit('SIGTERM');
    expect(h.exits).toEqual([143]);
  });

  it('keeps every event when stdout is slow, and counts the buffered writes', async () => {
    const h = harness(sink({ highWaterMark: 64 }));
    const exit = main(RUN, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    const events = Array.from({ length: 200 }, (_, i) => trade(i));
    for (const event of events) h.manager.data$.next(event);
    h.signals.emit('SIGINT');
    expect(await exit).toBe(0);
    expect(h.stdout.text().split('\n').filter(Boolean)).toHaveLength(200);
    const summary = h.logs.find((line) => line.msg === 'stopped');
    expect(summary).toMatchObject({ written: 200, discarded: 0 });
    expect(summary?.writtenWhileFull).toBeGreaterThan(0);
    expect(h.logs.filter((line) => line.level === 40)).toHaveLength(1);
  });

  it('stops cleanly when the reader of stdout goes away (EPIPE)', async () => {
    let writes = 0;
    const epipe = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    const h = harness(sink({ fail: () => (++writes > 2 ? epipe() : undefined) }));
    let release: () => void = () => undefined;
    h.manager.stopGate = new Promise((resolve) => {
      release = resolve;
    });
    const exit = main(RUN, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    h.manager.data$.next(trade(1));
    h.manager.data$.next(trade(2));
    h.manager.data$.next(trade(3));
    await vi.waitFor(() => expect(h.manager.stops).toBe(1));
    // Still stopping: an event that arrives now has no reader left and is counted, not written.
    h.manager.data$.next(trade(4));
    release();
    expect(await exit).toBe(0);
    expect(h.stdout.text().split('\n').filter(Boolean)).toHaveLength(2);
    expect(h.logs.find((line) => line.msg === 'stopping collectors')).toMatchObject({
      reason: 'stdout-closed',
    });
    expect(h.logs.find((line) => line.msg === 'stopped')).toMatchObject({ discarded: 1 });
  });
});
