import { EventEmitter } from 'node:events';
import { get as httpGet } from 'node:http';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CollectorStatus, ManagerStatus } from '../../src/api.ts';
import { ConfigError } from '../../src/config/schema.ts';
import { demoCommand } from '../../src/service/demo.ts';
import type { CliIo } from '../../src/service/io.ts';
import {
  createTerminal,
  formatDemoProgress,
  formatDuration,
  formatLogLine,
  formatRunSummary,
  messageRate,
  resolveLogFormat,
} from '../../src/service/progress.ts';
import { runCommand } from '../../src/service/run.ts';
import { MockOkx } from '../support/mock-okx.ts';

const CLEAR = '\r\u001b[2K';

/** A stream that keeps what it is given, a TTY of `columns` columns when asked to be one. */
function fakeStream(tty: boolean, columns = 200) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  Object.assign(stream, { isTTY: tty, columns });
  return { stream, text: () => chunks.join(''), chunks };
}

const collector = (over: Partial<CollectorStatus>): CollectorStatus =>
  ({
    id: 'a',
    enabled: true,
    state: 'subscribed',
    reconnects: 0,
    faults: 0,
    messages: 0,
    ...over,
  }) as CollectorStatus;
const status = (collectors: CollectorStatus[], uptimeMs = 65_000) =>
  ({ collectors, uptimeMs }) as unknown as ManagerStatus;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('log format', () => {
  it('is pretty on a TTY and json elsewhere, unless told', () => {
    expect(resolveLogFormat(undefined, fakeStream(true).stream)).toBe('pretty');
    expect(resolveLogFormat(undefined, fakeStream(false).stream)).toBe('json');
    expect(resolveLogFormat('json', fakeStream(true).stream)).toBe('json');
    expect(resolveLogFormat('pretty', fakeStream(false).stream)).toBe('pretty');
  });

  it('refuses another format, naming the field', () => {
    const attempt = () => resolveLogFormat('yaml', fakeStream(true).stream);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/logFormat: got "yaml", expected one of pretty, json/);
  });

  it('turns a pino line into one short line for people', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 1, 12, 4, 31),
      pid: 1,
      hostname: 'h',
      collector: 'okx-1',
      reason: 'pong-timeout',
      msg: 'connection reconnecting',
    });
    expect(formatLogLine(line)).toBe(
      '12:04:31 WARN connection reconnecting collector=okx-1 reason=pong-timeout',
    );
    const withError = JSON.stringify({
      level: 50,
      time: 0,
      err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:1' },
      attempt: 3,
      msg: 'failed',
    });
    expect(formatLogLine(withError)).toBe(
      '00:00:00 ERROR failed err="connect ECONNREFUSED 127.0.0.1:1" attempt=3',
    );
    expect(formatLogLine('not json')).toBe('not json');
  });
});

describe('summary formatters', () => {
  it('formats durations the way people read them', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_400)).toBe('12 s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration(7_800_000)).toBe('2h 10m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 4h');
  });

  it('says how many collectors are live, which are not, and the message rate', () => {
    expect(formatRunSummary(status([collector({})]), 143.4)).toBe(
      '1/1 collectors live · 143 msg/s · up 1m 05s',
    );
    const mixed = status([
      collector({ reconnects: 2 }),
      collector({ id: 'b', state: 'reconnecting', faults: 1 }),
      collector({ id: 'c', enabled: false, state: 'disabled' }),
    ]);
    expect(formatRunSummary(mixed, undefined)).toBe(
      '1/2 collectors live (b reconnecting) · – msg/s · 2 reconnects · 1 fault · up 1m 05s',
    );
  });

  it('says which pass the demo is in and how far along', () => {
    const base = { loops: 0, framesPerPass: 200, framesSent: 0, passes: 0 };
    expect(formatDemoProgress(base)).toBe('pass 1 of ∞ · 0% · 0 frames sent');
    expect(formatDemoProgress({ ...base, loops: 3, passes: 1, framesSent: 282 })).toBe(
      'pass 2 of 3 · 41% · 282 frames sent',
    );
    expect(formatDemoProgress({ ...base, loops: 1, passes: 1, framesSent: 200 })).toBe(
      'pass 1 of 1 · 100% · 200 frames sent',
    );
  });

  it('derives messages per second from the counters between two calls', () => {
    let at = 0;
    const rate = messageRate(() => at);
    expect(rate(status([collector({ messages: 10 })]))).toBeUndefined();
    at = 2_000;
    expect(rate(status([collector({ messages: 110 })]))).toBe(50);
    at = 3_000;
    // A restart reset the counter: no rate for that sample.
    expect(rate(status([collector({ messages: 5 })]))).toBeUndefined();
  });
});

describe('terminal', () => {
  it('rewrites one summary line in place and clears it on stop', () => {
    vi.useFakeTimers();
    const out = fakeStream(true);
    const terminal = createTerminal({ stream: out.stream, format: 'pretty', level: 'info' });
    let n = 0;
    terminal.start(() => `summary ${++n}`);
    vi.advanceTimersByTime(2_000);
    expect(out.chunks).toEqual([`${CLEAR}summary 1`, `${CLEAR}summary 2`, `${CLEAR}summary 3`]);
    terminal.stop();
    terminal.stop();
    vi.advanceTimersByTime(2_000);
    expect(out.chunks.slice(3)).toEqual([CLEAR]);
  });

  it('writes logs at warn and above, above the summary line', () => {
    const out = fakeStream(true);
    const terminal = createTerminal({ stream: out.stream, format: 'pretty', level: 'info' });
    expect(terminal.level).toBe('warn');
    terminal.start(() => 'summary');
    const line = JSON.stringify({ level: 40, time: 0, msg: 'careful' });
    terminal.destination?.write(`${line}\n`);
    terminal.print('banner');
    terminal.stop();
    expect(out.text()).toBe(
      `${CLEAR}summary${CLEAR}00:00:00 WARN careful\nsummary${CLEAR}banner\nsummary${CLEAR}`,
    );
  });

  it('keeps a stricter level and cuts the line to the terminal width', () => {
    const out = fakeStream(true, 11);
    const terminal = createTerminal({ stream: out.stream, format: 'pretty', level: 'error' });
    expect(terminal.level).toBe('error');
    terminal.start(() => '0123456789abcdef');
    terminal.stop();
    expect(out.chunks[0]).toBe(`${CLEAR}012345678…`);
  });

  it('draws no summary on a stream that is not a TTY, and leaves json output as it was', () => {
    const pipe = fakeStream(false);
    const pretty = createTerminal({ stream: pipe.stream, format: 'pretty', level: 'info' });
    pretty.start(() => 'summary');
    pretty.print('banner');
    pretty.stop();
    expect(pipe.text()).toBe('banner\n');

    const tty = fakeStream(true);
    const json = createTerminal({ stream: tty.stream, format: 'json', level: 'debug' });
    expect(json.destination).toBeUndefined();
    expect(json.level).toBe('debug');
    json.start(() => 'summary');
    json.print('banner');
    json.stop();
    expect(tty.text()).toBe('');
  });
});

function cliIo(stderr: Writable, env: Record<string, string> = {}) {
  const stdout = fakeStream(false);
  const signals = new EventEmitter();
  const exits: number[] = [];
  const io: CliIo = {
    stdout: stdout.stream,
    stderr,
    env,
    signals: signals as unknown as CliIo['signals'],
    exit: (code) => exits.push(code),
  };
  return { io, stdout, signals, exits };
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function status200(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    httpGet(url, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', () => resolve(undefined));
  });
}

describe('run and demo on a terminal', () => {
  it('demo says what it replays, where the dashboard is, and how far along it is', async () => {
    // The default port, taken: the demo must still start, on another one.
    const taken = await listenOn(9464);
    if (taken !== undefined) cleanups.push(() => new Promise((r) => taken.close(() => r())));
    const err = fakeStream(true);
    const { io, stdout } = cliIo(err.stream);
    let dashboard: Promise<number | undefined> | undefined;
    const watch = setInterval(() => {
      const url = /dashboard: (http:\/\/\S+)/.exec(err.text())?.[1];
      if (url !== undefined && dashboard === undefined) dashboard = status200(url);
    }, 5);
    cleanups.push(() => clearInterval(watch));
    const code = await demoCommand({ speed: '200', loops: '1' }, io);
    expect(code).toBe(0);
    const text = err.text();
    expect(text).toMatch(/market-collector demo: replaying \d+ OKX recordings \(/);
    expect(text).toMatch(/frames a pass of .* \(speed 200\), 1 pass\n/);
    const url = /dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(text);
    expect(url).not.toBeNull();
    expect(Number(url?.[1])).not.toBe(9464);
    expect(await dashboard).toBe(200);
    expect(text).toContain(`${CLEAR}demo pass 1 of 1 · `);
    expect(text).toMatch(/frames sent · \d\/3 books live · \d\/3 collectors live/);
    expect(text).toContain('  demo-books: order books (books) of BTC-USD-220527, BTC-USDT, ');
    expect(text).toContain('  demo-candle1m: candles (1m) of BTC-USDT, BTC-USDT-SWAP\n');
    expect(text.endsWith(CLEAR)).toBe(true);
    // Info lines are not shown on a terminal; data still goes to stdout.
    expect(text).not.toContain('collectors started');
    expect(stdout.text().split('\n').length).toBeGreaterThan(10);
  });

  it('run shows its summary line on a TTY and clears it when stopped', async () => {
    const mock = await MockOkx.start();
    cleanups.push(() => mock.close());
    const err = fakeStream(true);
    const { io, signals } = cliIo(err.stream, { MARKET_COLLECTOR_HTTP: '127.0.0.1:0' });
    const running = runCommand({ endpoint: mock.url, symbols: 'BTC-USDT' }, io);
    await mock.waitFor(() => mock.openSocketCount() > 0, 5_000, 'connected');
    await vi.waitFor(() => expect(err.text()).toContain('collectors live'), { timeout: 5_000 });
    signals.emit('SIGINT');
    expect(await running).toBe(0);
    expect(err.text().startsWith(CLEAR)).toBe(true);
    expect(err.text()).toMatch(/0\/1 collectors live \(\S+ \w+\) · – msg\/s/);
    expect(err.text().endsWith(CLEAR)).toBe(true);
  });

  it('run writes json logs when told, even on a TTY', async () => {
    const mock = await MockOkx.start();
    cleanups.push(() => mock.close());
    const err = fakeStream(true);
    const lines: string[] = [];
    const { io, signals } = cliIo(err.stream, { MARKET_COLLECTOR_HTTP: 'off' });
    const withLogs = { ...io, logDestination: { write: (line: string) => lines.push(line) } };
    const running = runCommand(
      { endpoint: mock.url, symbols: 'BTC-USDT', logFormat: 'json' },
      withLogs,
    );
    await vi.waitFor(() => expect(lines.join('')).toContain('collectors started'));
    signals.emit('SIGINT');
    expect(await running).toBe(0);
    expect(err.text()).toBe('');
  });
});
