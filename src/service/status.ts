import type { BookStatus, CollectorStatus, ManagerStatus } from '../api.ts';
import { ENV } from '../config/load.ts';
import { configError, DEFAULT_HTTP, HTTP_OFF, parseListenAddress } from '../config/schema.ts';
import type { CliIo } from './io.ts';
import { sanitizeError } from './logging.ts';
import { type Cell, type Color, colorEnabled, paint, renderTable } from './table.ts';

/**
 * `market-collector status`: reads `GET /status` of a running service's admin listener and prints
 * one line per collector and one per order book, or the JSON itself with `--json`; `--watch`
 * redraws until Ctrl-C.
 */

export interface StatusFlags {
  /** The admin listener (`http://HOST:PORT`) or its `/status`; from `MARKET_COLLECTOR_HTTP`. */
  readonly url?: string | undefined;
  readonly json?: boolean | undefined;
  readonly watch?: boolean | undefined;
}

export const WATCH_INTERVAL_MS = 2_000;
const FETCH_TIMEOUT_MS = 5_000;

const STATE_COLORS: Readonly<Record<string, Color>> = {
  subscribed: 'green',
  connecting: 'yellow',
  subscribing: 'yellow',
  reconnecting: 'yellow',
  backoff: 'yellow',
  idle: 'dim',
  stopped: 'dim',
  disabled: 'dim',
  error: 'red',
  failed: 'red',
};

const BOOK_COLORS: Readonly<Record<BookStatus['state'], Color>> = {
  live: 'green',
  syncing: 'yellow',
  invalid: 'red',
  quarantined: 'red',
};

export async function statusCommand(flags: StatusFlags, io: CliIo): Promise<number> {
  const url = statusUrl(flags.url, io.env);
  const color = colorEnabled(io);
  if (flags.watch !== true) {
    const result = await readStatus(url, AbortSignal.timeout(FETCH_TIMEOUT_MS));
    if (typeof result === 'string') {
      io.stderr.write(`market-collector: ${result}\n`);
      return 1;
    }
    io.stdout.write(
      flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : render(result, color),
    );
    return 0;
  }
  await watch(url, flags.json === true, color, io);
  return 0;
}

/** Redraws every WATCH_INTERVAL_MS until SIGINT or SIGTERM; an unreachable service is shown. */
async function watch(url: string, json: boolean, color: boolean, io: CliIo): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  io.signals.on('SIGINT', onSignal);
  io.signals.on('SIGTERM', onSignal);
  const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
  try {
    while (!stop.signal.aborted) {
      const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
      const result = await readStatus(url, signal);
      if (stop.signal.aborted) break;
      if (json) {
        io.stdout.write(
          `${JSON.stringify(typeof result === 'string' ? { error: result } : result)}\n`,
        );
      } else {
        const body =
          typeof result === 'string' ? `${paint(result, 'red', color)}\n` : render(result, color);
        const footer = paint(
          `${url} every ${WATCH_INTERVAL_MS / 1_000}s; Ctrl-C to stop`,
          'dim',
          color,
        );
        // A terminal is redrawn in place; a pipe or file gets one frame after another.
        io.stdout.write(`${tty ? '\u001b[2J\u001b[H' : ''}${body}${footer}\n${tty ? '' : '\n'}`);
      }
      await sleep(WATCH_INTERVAL_MS, stop.signal);
    }
  } finally {
    io.signals.off('SIGINT', onSignal);
    io.signals.off('SIGTERM', onSignal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The status, or a one-line reason it could not be read. */
async function readStatus(url: string, signal: AbortSignal): Promise<ManagerStatus | string> {
  try {
    const response = await fetch(url, { signal, headers: { accept: 'application/json' } });
    if (!response.ok) return `${url} answered HTTP ${response.status}`;
    const body: unknown = await response.json();
    if (!isStatus(body)) return `${url} did not answer with a market-collector status`;
    return body;
  } catch (error) {
    return `cannot read ${url}: ${sanitizeError(error).message}`;
  }
}

function isStatus(value: unknown): value is ManagerStatus {
  if (typeof value !== 'object' || value === null) return false;
  const status = value as Partial<Record<keyof ManagerStatus, unknown>>;
  return Array.isArray(status.collectors) && typeof status.startedAt === 'number';
}

/** `--url`, else the admin address `run` would bind (`MARKET_COLLECTOR_HTTP`), else the default. */
export function statusUrl(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (flag !== undefined) {
    let url: URL;
    try {
      url = new URL(flag);
    } catch {
      url = new URL('invalid:');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      const expected = 'an http:// URL of the admin listener, e.g. http://127.0.0.1:9464';
      throw configError([{ field: 'url', received: flag, expected }]);
    }
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/status';
    return url.toString();
  }
  const setting = env[ENV.http];
  const text =
    setting === undefined || setting === '' || setting === HTTP_OFF ? DEFAULT_HTTP : setting;
  const address = parseListenAddress(text);
  if (address === undefined) {
    const expected = `HOST:PORT, e.g. ${DEFAULT_HTTP}`;
    throw configError([{ field: ENV.http, received: setting, expected }]);
  }
  // A listener on every interface is reached on loopback.
  const host =
    address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/status`;
}

function render(status: ManagerStatus, color: boolean): string {
  const now = status.startedAt + status.uptimeMs;
  const counts = Object.entries(status.countsByState)
    .map(([state, n]) => paint(`${state} ${n}`, STATE_COLORS[state], color))
    .join(', ');
  const faults = Object.values(status.faultsByCode).reduce((sum, n) => sum + n, 0);
  const summary =
    `up ${duration(status.uptimeMs)}; ${plural(status.collectors.length, 'collector')}` +
    `${counts === '' ? '' : ` (${counts})`}; ${faults} faults`;
  const header = [
    'COLLECTOR',
    'EXCHANGE',
    'STATE',
    'FOR',
    'SUBS',
    'RECONNECTS',
    'RESTARTS',
    'EVENTS',
    'FAULTS',
    'LAST DATA',
  ];
  const rows = status.collectors.map((c) => row(c, now));
  const notes = status.collectors.flatMap((c) => notesOf(c));
  const table = rows.length === 0 ? 'no collectors\n' : renderTable(header, rows, color);
  const noted = notes.map((n) => `${paint(n, 'yellow', color)}\n`).join('');
  return `${summary}\n${table}${noted}${booksTable(status.collectors, now, color)}`;
}

/** One line per maintained book, after a blank line; nothing when no collector keeps one. */
function booksTable(collectors: readonly CollectorStatus[], now: number, color: boolean): string {
  // A service older than this command sends no `books`.
  const rows = collectors.flatMap((c) => (c.books ?? []).map((b) => bookRow(c.id, b, now)));
  if (rows.length === 0) return '';
  const header = ['COLLECTOR', 'BOOK', 'STATE', 'SEQUENCE', 'RESYNCS', 'UPDATED', 'LAST FAULT'];
  return `\n${renderTable(header, rows, color)}`;
}

function bookRow(collectorId: string, b: BookStatus, now: number): (string | Cell)[] {
  const fault = b.lastFault;
  return [
    collectorId,
    `${b.channel}:${b.symbol}`,
    { text: b.state, color: BOOK_COLORS[b.state] },
    b.sequence === undefined ? '-' : String(b.sequence),
    { text: String(b.resyncs), color: b.resyncs > 0 ? 'yellow' : undefined },
    ago(b.updatedAt, now),
    fault === undefined ? '-' : `${fault.code}${fault.at > 0 ? ` ${ago(fault.at, now)}` : ''}`,
  ];
}

/** `12s ago`; `-` for a time not known (undefined, or 0 where the source gave none). */
function ago(at: number | undefined, now: number): string {
  return at === undefined || at <= 0 ? '-' : `${duration(now - at)} ago`;
}

function row(c: CollectorStatus, now: number): (string | Cell)[] {
  const active = c.subscriptions.filter((s) => s.state === 'active').length;
  const subs: Cell = {
    text: `${active}/${c.subscriptions.length}`,
    color: active === c.subscriptions.length ? undefined : 'yellow',
  };
  const last = Math.max(0, ...Object.values(c.lastMessageAt).filter((t) => t !== undefined));
  return [
    c.id,
    c.exchange,
    { text: c.state, color: STATE_COLORS[c.state] },
    duration(now - c.since),
    subs,
    String(c.reconnects),
    String(c.restarts),
    String(c.events),
    { text: String(c.faults), color: c.faults > 0 ? 'yellow' : undefined },
    last === 0 ? '-' : `${duration(now - last)} ago`,
  ];
}

/** What a row cannot say: the last error, failed subscriptions, a restart on its way. */
function notesOf(c: CollectorStatus): string[] {
  const notes: string[] = [];
  if (c.lastError !== undefined) notes.push(`${c.id}: last error: ${c.lastError}`);
  const failed = c.subscriptions.filter((s) => s.state === 'failed' || s.state === 'quarantined');
  if (failed.length > 0) {
    const which = failed.map(
      (s) => `${s.channel}:${s.symbol} ${s.state}${s.code ? ` ${s.code}` : ''}`,
    );
    notes.push(`${c.id}: ${which.join(', ')}`);
  }
  if (c.nextRestartAt !== undefined) {
    notes.push(`${c.id}: restart due at ${new Date(c.nextRestartAt).toISOString()}`);
  }
  return notes;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** `850ms`, `12s`, `5m03s`, `1h02m`, `3d04h`. */
export function duration(ms: number): string {
  const value = Math.max(0, Math.round(ms));
  if (value < 1_000) return `${value}ms`;
  const s = Math.floor(value / 1_000);
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3_600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3_600) % 24)}h`;
}
