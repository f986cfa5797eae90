import { EventEmitter } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EMPTY, Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { CollectorManager, ManagerOptions } from '../../src/api.ts';
import { DEFAULT_SUPERVISION } from '../../src/config/schema.ts';
import { main, USAGE } from '../../src/service/cli.ts';
import { type CliIo, fatalHandler } from '../../src/service/io.ts';
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
    // A free port: the admin listener runs as by default, without colliding across test files.
    env: { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' },
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

  it('builds the collector of the flags with a depth channel, candle bar and snapshot mode', async () => {
    const h = harness();
    const argv = [
      ...RUN,
      '--data-types',
      'orderbook,candle',
      '--book-channel',
      'books5',
      '--candle-interval',
      '1H',
      '--book-snapshot',
      'rest',
    ];
    const exit = main(argv, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    expect(h.manager.options[0]?.collectors?.[0]).toMatchObject({
      dataTypes: ['orderbook', 'candle'],
      bookChannel: 'books5',
      candleInterval: '1H',
      bookSnapshot: 'rest',
    });
    h.signals.emit('SIGTERM');
    expect(await exit).toBe(0);
  });

  it('exits 2 naming the field for a depth channel, candle bar or snapshot mode that is wrong', async () => {
    for (const [flag, value, field] of [
      ['--book-channel', 'books50', 'collectors.0.bookChannel'],
      ['--candle-interval', '7m', 'collectors.0.candleInterval'],
      ['--book-snapshot', 'push', 'collectors.0.bookSnapshot'],
    ] as const) {
      const h = harness();
      expect(await main([...RUN, flag, value], h.io)).toBe(2);
      expect(h.stderr.text()).toContain(`${field}: got "${value}", expected `);
      expect(h.manager.options).toEqual([]);
    }
  });

  it('exits 2 with the field, the value once and the choices for a flag off its list', async () => {
    for (const [flag, value, line] of [
      [
        '--data-types',
        'trade,Ticker',
        'collectors.0.dataTypes.1: got "Ticker", expected one of trade, ticker, orderbook, candle\n',
      ],
      [
        '--book-snapshot',
        'REST',
        'collectors.0.bookSnapshot: got "REST", expected one of auto, rest\n',
      ],
      [
        '--log-level',
        'loud',
        'logLevel: got "loud", expected one of fatal, error, warn, info, debug, trace, silent\n',
      ],
    ] as const) {
      const h = harness();
      expect(await main([...RUN, flag, value], h.io)).toBe(2);
      expect(h.stderr.text()).toBe(`market-collector: invalid configuration\n  ${line}`);
    }
  });

  it('exits 2 for a symbol or a data type repeated in the flags, starting nothing', async () => {
    const h = harness();
    const argv = ['run', '--symbols', 'BTC-USDT,BTC-USDT', '--data-types', 'trade,trade'];
    expect(await main(argv, h.io)).toBe(2);
    expect(h.stderr.text()).toContain(
      'collectors.0.symbols.1: got "BTC-USDT", expected a symbol not listed before',
    );
    expect(h.stderr.text()).toContain(
      'collectors.0.dataTypes.1: got "trade", expected a data type not listed before',
    );
    expect(h.manager.options).toEqual([]);
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
    // `--loops=-1`: parseArgs takes a separate `-1` for an option, not a value.
    const argv = ['demo', '--speed', '0', '--loops=-1', '--shutdown-timeout-ms', 'soon'];
    expect(await main(argv, h.io)).toBe(2);
    expect(h.stderr.text()).toContain('speed: got "0"');
    expect(h.stderr.text()).toContain('loops: got "-1"');
    expect(h.stderr.text()).toContain('shutdownTimeoutMs: got "soon"');
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

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'market-collector-cli-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, text: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

const TWO_COLLECTORS = `
collectors:
  - exchange: okx
    symbols: [BTC-USDT, ETH-USDT]
    credentials: { apiKey: k3y-literal, secretKeyEnv: OKX_SECRET_KEY }
  - exchange: okx
    symbol: BTC-USDT-SWAP
`;

/** Secrets of the tests below: none may appear on stdout, stderr or in a log line. */
const SECRETS = ['k3y-literal', 's3cr3t-from-env'];

function expectNoSecrets(h: Harness): void {
  const everything = [h.stdout.text(), h.stderr.text(), JSON.stringify(h.logs)].join('\n');
  for (const secret of SECRETS) expect(everything).not.toContain(secret);
}

describe('market-collector config validate', () => {
  it('prints a one-line summary and exits 0 for a valid file', async () => {
    const path = await configFile('valid.yaml', TWO_COLLECTORS);
    const h = harness();
    expect(await main(['config', 'validate', path], h.io)).toBe(0);
    expect(h.stdout.text()).toBe(
      'valid: 2 collectors (okx: BTC-USDT, ETH-USDT; okx: BTC-USDT-SWAP)\n',
    );
    expectNoSecrets(h);
  });

  it('checks the file alone, whatever the environment says', async () => {
    const path = await configFile('alone.yaml', TWO_COLLECTORS);
    const h = harness();
    const io = { ...h.io, env: { MARKET_COLLECTOR_SYMBOLS: 'SOL-USDT', OKX_SECRET_KEY: '' } };
    expect(await main(['config', 'validate', path], io)).toBe(0);
    expect(h.stdout.text()).toContain('valid: 2 collectors');
  });

  it('exits 2 with field, value and expectation for an invalid file', async () => {
    const path = await configFile(
      'invalid.yaml',
      'collectors:\n  - { exchange: okx, symbol: BTC-USDT, timers: { pingIntervalMs: -5 } }\n',
    );
    const h = harness();
    expect(await main(['config', 'validate', path], h.io)).toBe(2);
    expect(h.stdout.text()).toBe('');
    expect(h.stderr.text()).toMatch(/collectors\.0\.timers\.pingIntervalMs: got -5, expected /);
  });

  it.each([
    ['bookChannel', 'books50', 'orderbook', 'one of the depth channels that need no login: books,'],
    ['candleInterval', '7m', 'candle', 'one of the candle bars: 1s, 1m,'],
    // OKX bars of an hour and more are upper case: `1h` is not `1H`.
    ['candleInterval', '1h', 'candle', 'one of the candle bars: 1s, 1m,'],
  ])(
    'exits 2 for a %s of %j the exchange does not have, as run does',
    async (field, value, dataType, expected) => {
      const path = await configFile(
        `${field}-${value}.yaml`,
        `collectors:
  - { exchange: okx, symbol: BTC-USDT, dataTypes: [${dataType}], ${field}: ${value} }
`,
      );
      const line = `collectors.0.${field}: got "${value}", expected ${expected}`;
      for (const argv of [
        ['config', 'validate', path],
        ['run', '--config', path],
      ]) {
        const h = harness();
        expect(await main(argv, h.io)).toBe(2);
        expect(h.stdout.text()).toBe('');
        expect(h.stderr.text()).toContain(line);
        // The value is quoted once, after "got", not again inside the expectation.
        expect(h.stderr.text().split(`"${value}"`)).toHaveLength(2);
        expect(h.manager.options).toEqual([]);
      }
    },
  );

  it("lists every mistake of a file in one run, the exchange's with the schema's", async () => {
    const path = await configFile(
      'four-mistakes.yaml',
      `collectors:
  - exchange: okx
    symbols: [BTC-USDT]
    dataTypes: [orderbook, candle]
    bookSnapshot: REST
    backfil: false
    bookChannel: books400
    candleInterval: 2m
`,
    );
    for (const argv of [
      ['config', 'validate', path],
      ['run', '--config', path],
    ]) {
      const h = harness();
      expect(await main(argv, h.io)).toBe(2);
      const lines = h.stderr.text().trimEnd().split('\n');
      expect(lines.slice(0, 4)).toEqual([
        'market-collector: invalid configuration',
        '  collectors.0.bookSnapshot: got "REST", expected one of auto, rest',
        expect.stringMatching(
          /^ {2}collectors\.0: got "backfil", expected a known key \(did you mean backfill\?\): id, /,
        ),
        '  collectors.0.bookChannel: got "books400", expected one of the depth channels that need no login: books, books5, bbo-tbt',
      ]);
      expect(lines[4]).toMatch(/^ {2}collectors\.0\.candleInterval: got "2m", expected one of /);
      expect(lines).toHaveLength(5);
      expect(h.manager.options).toEqual([]);
    }
  });

  it('exits 2 for a symbol or a data type listed twice, as run does', async () => {
    const path = await configFile(
      'repeats.yaml',
      'collectors:\n  - { exchange: okx, symbols: [BTC-USDT, BTC-USDT], dataTypes: [orderbook, orderbook] }\n',
    );
    for (const argv of [
      ['config', 'validate', path],
      ['run', '--config', path],
    ]) {
      const h = harness();
      expect(await main(argv, h.io)).toBe(2);
      expect(h.stdout.text()).toBe('');
      expect(h.stderr.text()).toBe(
        'market-collector: invalid configuration\n' +
          '  collectors.0.symbols.1: got "BTC-USDT", expected a symbol not listed before\n' +
          '  collectors.0.dataTypes.1: got "orderbook", expected a data type not listed before\n',
      );
      expect(h.manager.options).toEqual([]);
    }
  });

  it.skipIf(process.platform === 'win32')(
    'exits 2 for a secret-bearing file others can read, with the chmod to run',
    async () => {
      const path = await configFile('open.yaml', TWO_COLLECTORS, 0o644);
      const h = harness();
      expect(await main(['config', 'validate', path], h.io)).toBe(2);
      expect(h.stderr.text()).toContain(`(mode 0644): run chmod 600 ${path}`);
      expectNoSecrets(h);
    },
  );

  it('exits 2 with the usage without exactly one FILE, or for an unknown subcommand', async () => {
    for (const argv of [
      ['config', 'validate'],
      ['config', 'validate', 'a.yaml', 'b.yaml'],
      ['config', 'check'],
      ['config'],
    ]) {
      const h = harness();
      expect(await main(argv, h.io)).toBe(2);
      expect(h.stderr.text()).toContain(USAGE);
    }
  });
});

describe('market-collector config print', () => {
  it('prints the resolved config as YAML, defaults applied and secrets redacted', async () => {
    const path = await configFile('print.yaml', TWO_COLLECTORS);
    const h = harness();
    const io = { ...h.io, env: { MARKET_COLLECTOR_TIMERS_PING_INTERVAL_MS: '15000' } };
    const argv = ['config', 'print', '--config', path, '--max-restarts', '2'];
    expect(await main(argv, io)).toBe(0);
    const printed = parseYaml(h.stdout.text());
    expect(printed.supervisor).toMatchObject({
      strategy: DEFAULT_SUPERVISION.strategy,
      maxRestarts: 2,
      health: { intervalMs: DEFAULT_SUPERVISION.health.intervalMs },
    });
    expect(printed.collectors[1].timers.pingIntervalMs).toBe(15_000);
    expect(printed.collectors[0].credentials).toEqual({
      apiKey: '[redacted]',
      secretKeyEnv: 'OKX_SECRET_KEY',
    });
    expectNoSecrets(h);
  });

  it('prints JSON with --format json, and refuses another format', async () => {
    const json = harness();
    expect(
      await main(['config', 'print', '--symbols', 'BTC-USDT', '--format', 'json'], json.io),
    ).toBe(0);
    expect(JSON.parse(json.stdout.text()).collectors[0].symbols).toEqual(['BTC-USDT']);
    const xml = harness();
    expect(
      await main(['config', 'print', '--symbols', 'BTC-USDT', '--format', 'xml'], xml.io),
    ).toBe(2);
    expect(xml.stderr.text()).toContain('format: got "xml", expected yaml or json');
  });
});

describe('market-collector run: configuration', () => {
  it('gives the manager the supervisor policy and collectors without their credentials', async () => {
    const path = await configFile('run.yaml', TWO_COLLECTORS);
    const h = harness();
    const io = { ...h.io, env: { ...h.io.env, OKX_SECRET_KEY: 's3cr3t-from-env' } };
    const exit = main(['run', '--config', path, '--restart-strategy', 'one-for-all'], io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    const [options] = h.manager.options;
    expect(options?.supervisor).toMatchObject({ strategy: 'one-for-all', maxRestarts: 5 });
    expect(options?.collectors).toHaveLength(2);
    for (const collector of options?.collectors ?? [])
      expect(collector).not.toHaveProperty('credentials');
    expect(h.logs.find((line) => line.msg === 'credentials resolved')).toMatchObject({
      collectors: 1,
    });
    h.signals.emit('SIGTERM');
    expect(await exit).toBe(0);
    expectNoSecrets(h);
  });

  it('exits 2 before starting anything when a credentials variable is not set', async () => {
    const path = await configFile('unset.yaml', TWO_COLLECTORS);
    const h = harness();
    expect(await main(['run', '--config', path], h.io)).toBe(2);
    expect(h.stderr.text()).toContain(
      'collectors.0.credentials.secretKeyEnv: got "OKX_SECRET_KEY"',
    );
    expect(h.manager.options).toEqual([]);
  });
});

describe('market-collector run: shutdown', () => {
  it('logs an error and exits 1 when the stop outlasts the shutdown timeout', async () => {
    const h = harness();
    h.manager.stopGate = new Promise(() => undefined);
    void main([...RUN, '--shutdown-timeout-ms', '50'], h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    h.signals.emit('SIGTERM');
    await vi.waitFor(() => expect(h.exits).toEqual([1]));
    const line = h.logs.find(
      (l) => l.msg === 'shutdown deadline passed; exiting without a clean stop',
    );
    expect(line).toMatchObject({ level: 50, timeoutMs: 50 });
  });

  it('waits for stdout to drain before it resolves', async () => {
    const h = harness(sink({ highWaterMark: 16 }));
    const exit = main(RUN, h.io);
    await vi.waitFor(() => expect(h.manager.starts).toBe(1));
    for (let i = 0; i < 50; i += 1) h.manager.data$.next(trade(i));
    h.signals.emit('SIGINT');
    expect(await exit).toBe(0);
    // Every line had left the stream's buffer by then, not merely been handed to it.
    expect(h.stdout.stream.writableLength).toBe(0);
    expect(h.stdout.text().split('\n').filter(Boolean)).toHaveLength(50);
  });
});

describe('fatalHandler', () => {
  it('logs an uncaught error at fatal through the sanitizer and exits 1', () => {
    const lines: Record<string, unknown>[] = [];
    const exits: number[] = [];
    const handle = fatalHandler({
      exit: (code) => exits.push(code),
      logDestination: { write: (line: string) => lines.push(JSON.parse(line)) },
    });
    handle(new Error('GET wss://u:hunter2@ws.okx.com/ws?token=tok-1 failed'), 'uncaughtException');
    handle('password=hunter2', 'unhandledRejection');
    expect(exits).toEqual([1, 1]);
    expect(lines.map((l) => [l.level, l.msg, l.origin])).toEqual([
      [60, 'uncaught exception; exiting', 'uncaughtException'],
      [60, 'unhandled rejection; exiting', 'unhandledRejection'],
    ]);
    expect(lines[0]?.err).toEqual({ name: 'Error', message: 'GET wss://ws.okx.com/ws failed' });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(JSON.stringify(lines)).not.toContain('tok-1');
  });

  it('exits 1 even when logging fails', () => {
    const exits: number[] = [];
    const handle = fatalHandler({
      exit: (code) => exits.push(code),
      logDestination: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
    });
    handle(new Error('boom'), 'uncaughtException');
    expect(exits).toEqual([1]);
  });
});
