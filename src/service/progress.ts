import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import { take } from 'rxjs';
import type { CollectorManager, ManagerStatus } from '../api.ts';
import { configError, LOG_LEVELS, type LogLevel } from '../config/schema.ts';
import type { CliIo } from './io.ts';

/**
 * What `run` and `demo` show on a terminal. On a TTY, unless `--log-format json`: one summary
 * line rewritten in place every second, and above it only the logs at warn and above, one short
 * line each. Anywhere else (a pipe, a file, a log collector): the JSON log lines, as before.
 */

export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The parts of a stream the terminal looks at; `process.stderr` has them on a TTY. */
export type TerminalStream = Writable & { readonly isTTY?: boolean; readonly columns?: number };

/** `--log-format`: pretty on a TTY and json elsewhere unless told. Throws `ConfigError`. */
export function resolveLogFormat(text: string | undefined, stream: TerminalStream): LogFormat {
  if (text === undefined) return stream.isTTY === true ? 'pretty' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(text)) return text as LogFormat;
  throw configError([
    { field: 'logFormat', received: text, expected: `one of ${LOG_FORMATS.join(', ')}` },
  ]);
}

export interface TerminalOptions {
  readonly stream: TerminalStream;
  readonly format: LogFormat;
  /** The configured level; pretty output raises it to warn. */
  readonly level: LogLevel;
  readonly intervalMs?: number;
}

export interface Terminal {
  readonly format: LogFormat;
  /** The level to create the logger with. */
  readonly level: LogLevel;
  /** Where the logger writes; undefined for json, whose lines go where they always went. */
  readonly destination: DestinationStream | undefined;
  /** Rewrites the summary line every interval from `render`; only on a TTY, once. */
  start(render: () => string): void;
  /** A lasting line above the summary, in pretty output only (json has the log for it). */
  print(text: string): void;
  /** Stops the summary and clears its line. Idempotent. */
  stop(): void;
}

const DEFAULT_INTERVAL_MS = 1_000;
/** Carriage return and "erase the whole line": the summary is redrawn where it stands. */
const CLEAR_LINE = '\r\u001b[2K';
const PRETTY_LEVEL: LogLevel = 'warn';

export function createTerminal(options: TerminalOptions): Terminal {
  const { stream, format } = options;
  const live = format === 'pretty' && stream.isTTY === true;
  let render: (() => string) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let shown = '';
  let stopped = false;

  const fitWidth = (text: string) => {
    // One column short: a line that fills the terminal wraps on some, and `\r` then misses.
    const width = (stream.columns ?? 80) - 1;
    return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
  };
  const draw = () => {
    if (render === undefined || stopped) return;
    shown = fitWidth(render());
    stream.write(`${CLEAR_LINE}${shown}`);
  };
  // A line written while the summary is shown goes above it: clear, write, draw it again.
  const above = (text: string) => {
    if (!live || shown === '') stream.write(`${text}\n`);
    else stream.write(`${CLEAR_LINE}${text}\n${shown}`);
  };

  return {
    format,
    level: format === 'pretty' ? moreSevere(options.level, PRETTY_LEVEL) : options.level,
    destination:
      format === 'pretty' ? { write: (chunk) => writeLogLines(chunk, above) } : undefined,
    start(next) {
      if (!live || render !== undefined || stopped) return;
      render = next;
      draw();
      timer = setInterval(draw, options.intervalMs ?? DEFAULT_INTERVAL_MS);
      timer.unref();
    },
    print(text) {
      if (format === 'pretty') above(text);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (shown !== '') stream.write(CLEAR_LINE);
      shown = '';
    },
  };
}

function writeLogLines(chunk: string, write: (line: string) => void): void {
  for (const line of chunk.split('\n')) if (line !== '') write(formatLogLine(line));
}

function moreSevere(a: LogLevel, b: LogLevel): LogLevel {
  // LOG_LEVELS runs from the most severe; `silent` (last) stays silent.
  if (a === 'silent') return a;
  return LOG_LEVELS.indexOf(a) <= LOG_LEVELS.indexOf(b) ? a : b;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** pino's own fields, shown another way or not at all. */
const OWN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/**
 * A pino JSON line for people: `12:04:31 WARN connection reconnecting collector=okx-1
 * reason=pong-timeout`. Time in UTC, as in the JSON and on the dashboard. Not JSON: as is.
 */
export function formatLogLine(line: string): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return line;
  const fields = record as Record<string, unknown>;
  const time =
    typeof fields.time === 'number' ? new Date(fields.time).toISOString().slice(11, 19) : '';
  const level = typeof fields.level === 'number' ? (LEVEL_NAMES[fields.level] ?? 'LOG') : 'LOG';
  const rest = Object.entries(fields)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return [time, level, String(fields.msg ?? ''), ...rest].filter((part) => part !== '').join(' ');
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  // A serialized error: its message is what a person reads.
  if (typeof value === 'object' && value !== null && 'message' in value) {
    return fieldText((value as { message: unknown }).message);
  }
  return JSON.stringify(value) ?? String(value);
}

/** `850 ms`, `12 s`, `3m 05s`, `2h 10m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${String(m % 60).padStart(2, '0')}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

/** `2/3 collectors live (okx-2 reconnecting) · 143 msg/s · 1 reconnect · up 5m 12s`. */
export function formatRunSummary(status: ManagerStatus, perSecond: number | undefined): string {
  const enabled = status.collectors.filter((c) => c.enabled);
  const live = enabled.filter((c) => c.state === 'subscribed');
  const others = enabled.filter((c) => c.state !== 'subscribed');
  const shownOthers = others.slice(0, 2).map((c) => `${c.id} ${c.state}`);
  if (others.length > 2) shownOthers.push(`${others.length - 2} more`);
  const reconnects = status.collectors.reduce((sum, c) => sum + c.reconnects, 0);
  const faults = status.collectors.reduce((sum, c) => sum + c.faults, 0);
  const notLive = shownOthers.length === 0 ? '' : ` (${shownOthers.join(', ')})`;
  return [
    `${live.length}/${enabled.length} collectors live${notLive}`,
    `${perSecond === undefined ? '–' : count(perSecond)} msg/s`,
    ...(reconnects > 0 ? [plural(reconnects, 'reconnect')] : []),
    ...(faults > 0 ? [plural(faults, 'fault')] : []),
    `up ${formatDuration(status.uptimeMs)}`,
  ].join(' · ');
}

export interface DemoProgress {
  /** Passes completed so far. */
  readonly passes: number;
  /** Passes the demo plays; 0: forever. */
  readonly loops: number;
  readonly framesSent: number;
  readonly framesPerPass: number;
}

/** `pass 2 of 3 · 41% · 1,204 frames sent`, the demo's part of its summary. */
export function formatDemoProgress(p: DemoProgress): string {
  const pass = p.loops > 0 ? Math.min(p.passes + 1, p.loops) : p.passes + 1;
  const inPass = p.framesSent - p.passes * p.framesPerPass;
  const done = p.loops > 0 && p.passes >= p.loops;
  const share = done ? 100 : Math.floor((100 * inPass) / Math.max(1, p.framesPerPass));
  const of = p.loops > 0 ? `of ${p.loops}` : 'of ∞';
  return `pass ${pass} ${of} · ${share}% · ${count(p.framesSent)} frames sent`;
}

/** A summary renderer for `run`: the status, and messages per second since the last call. */
export function runSummary(manager: Pick<CollectorManager, 'getStatus'>): () => string {
  const rate = messageRate();
  return () => {
    const status = manager.getStatus();
    return formatRunSummary(status, rate(status));
  };
}

/** Messages per second of the whole manager, from its counters, between two calls. */
export function messageRate(elapsedNow: () => number = () => performance.now()) {
  let previous: { readonly at: number; readonly total: number } | undefined;
  return (status: ManagerStatus): number | undefined => {
    const at = elapsedNow();
    const total = status.collectors.reduce((sum, c) => sum + c.messages, 0);
    const before = previous;
    previous = { at, total };
    // A restart resets its collector's counters: that one sample has no rate.
    if (before === undefined || at <= before.at || total < before.total) return undefined;
    return ((total - before.total) * 1_000) / (at - before.at);
  };
}

/** `io` whose `exit` clears the summary line first: a second signal exits without a clean stop. */
export function clearingOnExit(io: CliIo, terminal: Pick<Terminal, 'stop'>): CliIo {
  return {
    ...io,
    exit: (code) => {
      terminal.stop();
      io.exit(code);
    },
  };
}

/**
 * Prints `text` above the summary when the manager starts. `serve` starts it only once the admin
 * listener is up, so a URL printed then answers.
 */
export function printOnStart(
  terminal: Pick<Terminal, 'print'>,
  manager: Pick<CollectorManager, 'telemetry$'>,
  text: string,
): void {
  manager.telemetry$.pipe(take(1)).subscribe(() => terminal.print(text));
}
