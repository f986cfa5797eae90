import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CollectorManager, ManagerStatus } from '../api.ts';
import { ENV } from '../config/load.ts';
import {
  type CollectorConfig,
  type CollectorConfigInput,
  type ConfigIssue,
  configError,
  LOG_LEVELS,
  type LogLevel,
  parseServiceConfig,
  serviceConfigSchema,
} from '../config/schema.ts';
import {
  candleIntervalOf,
  DEFAULT_BOOK_CHANNEL,
  DEFAULT_CANDLE_INTERVAL,
  OKX_BOOK_CHANNELS,
} from '../exchanges/okx/channels.ts';
import { attachDashboard, dashboardUrl } from './dashboard.ts';
import { DEMO_DEFAULTS, type DemoExchange, startDemoExchange } from './demo-exchange.ts';
import { type CliIo, resolveManagerFactory } from './io.ts';
import { createLogger } from './logging.ts';
import {
  clearingOnExit,
  createTerminal,
  formatDemoProgress,
  formatDuration,
  formatRunSummary,
  messageRate,
  printOnStart,
  resolveLogFormat,
} from './progress.ts';
import { type AdminSettings, adminSettings, type StopReason, serve } from './serve.ts';
import { createTimeline } from './timeline.ts';

/**
 * `market-collector demo`: the built-in OKX-protocol exchange on 127.0.0.1 replays recorded
 * traffic (trades, tickers, order books, candles) to collectors, whose events are printed as
 * `run` prints them.
 */

export interface DemoFlags {
  readonly speed?: string | undefined;
  readonly loops?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly shutdownTimeoutMs?: string | undefined;
  /** `HOST:PORT` of the admin listener, or `off`. */
  readonly http?: string | undefined;
  /** `pretty` (a summary line, warnings) on a TTY, `json` elsewhere; as for `run`. */
  readonly logFormat?: string | undefined;
}

/** Time for the last frames of the final pass to cross the socket and the parser. */
const DRAIN_MS = 250;

export async function demoCommand(flags: DemoFlags, io: CliIo): Promise<number> {
  const { speed, loops, logLevel, shutdownTimeoutMs, http } = parseDemoFlags(flags, io.env);
  const format = resolveLogFormat(flags.logFormat, io.stderr);
  const terminal = createTerminal({ stream: io.stderr, format, level: logLevel });
  const destination = terminal.destination ?? io.logDestination;
  const logger = createLogger({ level: terminal.level, destination });
  const createManager = await resolveManagerFactory(io);
  const exchange = await startDemoExchange({ speed, passes: loops });
  try {
    const config = parseServiceConfig({ logLevel, collectors: demoCollectors(exchange) });
    const recordings = exchange.program.files;
    logger.info(
      { endpoint: exchange.endpoint, speed, loops, recordings },
      'demo exchange listening',
    );
    const explicitHttp = flags.http !== undefined || nonEmpty(io.env[ENV.http]) !== undefined;
    const admin = await demoAdmin(adminSettings(http, false, io.env), explicitHttp);
    const timeline = admin === undefined ? undefined : createTimeline();
    const manager = createManager({
      supervisor: config.supervisor,
      collectors: config.collectors,
      logger,
      ...(timeline === undefined ? {} : { inspect: timeline.observer }),
    });
    const url = admin === undefined ? undefined : dashboardUrl(admin);
    const banner = demoBanner(exchange, config.collectors, { speed, loops, url });
    printOnStart(terminal, manager, banner);
    terminal.start(demoSummary(exchange, manager, loops));
    const dropConnections = () => {
      logger.warn({ connections: exchange.dropConnections() }, 'demo connections dropped');
    };
    const dashboard = { manager, logger, dropConnections };
    const reason = await serve(manager, {
      io: clearingOnExit(io, terminal),
      logger,
      shutdownTimeoutMs,
      admin:
        timeline === undefined
          ? admin
          : attachDashboard(admin, { ...dashboard, timeline }, (bound) =>
              terminal.print(`  dashboard: ${bound}`),
            ),
      ...(loops > 0 ? { until: afterPasses(exchange, loops) } : {}),
    });
    return reason === 'failed' ? 1 : 0;
  } finally {
    terminal.stop();
    await exchange.close();
  }
}

/**
 * The admin listener at its default address, or on any free port when that one is taken (by
 * another demo, say): the demo must start for a new user. An address asked for is used as given.
 */
async function demoAdmin(
  admin: AdminSettings | undefined,
  explicit: boolean,
): Promise<AdminSettings | undefined> {
  if (admin === undefined || explicit || admin.port === 0) return admin;
  if (await portIsFree(admin.host, admin.port)) return admin;
  return { ...admin, port: await portIsFree(admin.host, 0) };
}

/** Listens and closes at once: the port bound (0 asks for any), or 0 when it was taken. */
function portIsFree(host: string, port: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(0));
    probe.listen(port, host, () => {
      const address = probe.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(bound));
    });
  });
}

interface BannerOptions {
  readonly speed: number;
  readonly loops: number;
  readonly url: string | undefined;
}

/** What the demo replays, to which collectors, and where to watch it; printed once. */
export function demoBanner(
  exchange: Pick<DemoExchange, 'program'>,
  collectors: readonly CollectorConfig[],
  options: BannerOptions,
): string {
  const { files, frames, durationMs } = exchange.program;
  const { speed, loops, url } = options;
  const passes = loops > 0 ? `${loops} pass${loops === 1 ? '' : 'es'}` : 'passes until Ctrl-C';
  const lines = [
    `market-collector demo: replaying ${files.length} OKX recordings (${recordingGroups(files)})`,
    `  ${frames.length.toLocaleString('en-US')} frames a pass of ` +
      `${formatDuration(durationMs / speed)} (speed ${speed}), ${passes}`,
    ...collectors.map((c) => `  ${c.id}: ${collectedData(c)} of ${(c.symbols ?? []).join(', ')}`),
  ];
  if (url !== undefined) {
    lines.push(`  dashboard: ${url}  (its "Drop connections" button shows a reconnect)`);
  }
  return lines.join('\n');
}

/** `a.jsonl, ccxt_2026-08/ (5 files)`: a folder of recordings is one source. */
function recordingGroups(files: readonly string[]): string {
  const groups = new Map<string, number>();
  for (const file of files) {
    const slash = file.indexOf('/');
    const key = slash < 0 ? file : `${file.slice(0, slash + 1)}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups]
    .map(([key, n]) => (key.endsWith('/') ? `${key} (${n} file${n === 1 ? '' : 's'})` : key))
    .join(', ');
}

/** `trades, tickers`, `order books (books5)`, `candles (1m)`. */
function collectedData(c: CollectorConfig): string {
  return c.dataTypes
    .map((dataType) => {
      if (dataType === 'orderbook') return `order books (${c.bookChannel ?? DEFAULT_BOOK_CHANNEL})`;
      if (dataType === 'candle') return `candles (${c.candleInterval ?? DEFAULT_CANDLE_INTERVAL})`;
      return `${dataType}s`;
    })
    .join(', ');
}

function demoSummary(
  exchange: DemoExchange,
  manager: Pick<CollectorManager, 'getStatus' | 'getBook'>,
  loops: number,
): () => string {
  const rate = messageRate();
  const framesPerPass = exchange.program.frames.length;
  return () => {
    const status = manager.getStatus();
    const progress = formatDemoProgress({
      passes: exchange.passes(),
      loops,
      framesSent: exchange.framesSent(),
      framesPerPass,
    });
    const books = booksLive(status, manager);
    return `demo ${progress} · ${books}${formatRunSummary(status, rate(status))}`;
  };
}

/** `3/5 books live · `, or nothing when no collector keeps a book. */
export function booksLive(
  status: ManagerStatus,
  manager: Pick<CollectorManager, 'getBook'>,
): string {
  const books = status.collectors.flatMap((c) =>
    c.subscriptions
      .filter((s) => s.dataType === 'orderbook')
      .map((s) => manager.getBook(s.symbol, { collectorId: c.id, channel: s.channel, depth: 1 })),
  );
  if (books.length === 0) return '';
  const live = books.filter((book) => book?.state === 'live').length;
  return `${live}/${books.length} books live · `;
}

/**
 * One collector per kind of recording, named after it (`demo-books`, `demo-candle1m`): a
 * collector takes every data type for every symbol it names, and one book channel and one candle
 * interval, while the recordings cover each instrument with a different set of channels. Each
 * collector is a connection, and the product opens at most 3 a second to OKX (its per-IP limit):
 * a fourth kind of recording (`books5` beside `books`, say) would connect a second late and miss
 * the first frames of a fast first pass, so none is shipped.
 */
export function demoCollectors(
  exchange: Pick<DemoExchange, 'channels' | 'endpoint'>,
): CollectorConfigInput[] {
  const { channels, endpoint } = exchange;
  // The demo exchange replays recordings; it keeps no trade history to fetch missed trades from.
  const base = { exchange: 'okx', endpoint, backfill: false };
  const tickers = new Set(channels.get('tickers'));
  const traded = (channels.get('trades') ?? []).filter((symbol) => tickers.has(symbol));
  const collectors: CollectorConfigInput[] = [];
  if (traded.length > 0) {
    collectors.push({ ...base, id: 'demo', symbols: traded, dataTypes: ['trade', 'ticker'] });
  }
  for (const [channel, symbols] of channels) {
    const id = `demo-${channel}`;
    const candleInterval = candleIntervalOf(channel);
    if ((OKX_BOOK_CHANNELS as readonly string[]).includes(channel)) {
      collectors.push({
        ...base,
        id,
        symbols: [...symbols],
        dataTypes: ['orderbook'],
        bookChannel: channel,
      });
    } else if (candleInterval !== undefined) {
      collectors.push({
        ...base,
        id,
        symbols: [...symbols],
        dataTypes: ['candle'],
        candleInterval,
      });
    }
  }
  return collectors;
}

function afterPasses(exchange: DemoExchange, loops: number): Promise<StopReason> {
  return new Promise((resolve) => {
    const unsubscribe = exchange.onPass((passes) => {
      if (passes < loops) return;
      unsubscribe();
      void sleep(DRAIN_MS, 'replay-finished' as const).then(resolve);
    });
  });
}

interface DemoSettings {
  readonly speed: number;
  readonly loops: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  readonly http: string;
}

/** Validates the demo's own flags; a bad one is a `ConfigError`, like any configuration value. */
export function parseDemoFlags(
  flags: DemoFlags,
  env: Readonly<Record<string, string | undefined>>,
): DemoSettings {
  const issues: ConfigIssue[] = [];
  const speed = flags.speed === undefined ? DEMO_DEFAULTS.speed : Number(flags.speed);
  if (!(Number.isFinite(speed) && speed > 0)) {
    issues.push({ field: 'speed', received: flags.speed, expected: 'a number above 0' });
  }
  const loops = flags.loops === undefined ? DEMO_DEFAULTS.loops : Number(flags.loops);
  if (!(Number.isInteger(loops) && loops >= 0)) {
    issues.push({ field: 'loops', received: flags.loops, expected: 'a whole number, 0 = forever' });
  }
  // Through the schema, so the default level stays where every default lives.
  const received = flags.logLevel ?? nonEmpty(env[ENV.logLevel]);
  const level = serviceConfigSchema.shape.logLevel.safeParse(received);
  if (!level.success) {
    issues.push({ field: 'logLevel', received, expected: `one of ${LOG_LEVELS.join(', ')}` });
  }
  const timeoutText = flags.shutdownTimeoutMs ?? nonEmpty(env[ENV.shutdownTimeoutMs]);
  const timeout = serviceConfigSchema.shape.shutdownTimeoutMs.safeParse(
    timeoutText === undefined ? undefined : Number(timeoutText),
  );
  if (!timeout.success) {
    const expected = 'a whole number of milliseconds above 0';
    issues.push({ field: 'shutdownTimeoutMs', received: timeoutText, expected });
  }
  const httpText = flags.http ?? nonEmpty(env[ENV.http]);
  const http = serviceConfigSchema.shape.http.safeParse(httpText);
  if (!http.success) {
    const expected = http.error.issues[0]?.message ?? 'HOST:PORT or off';
    issues.push({ field: 'http', received: httpText, expected });
  }
  if (issues.length > 0 || !level.success || !timeout.success || !http.success) {
    throw configError(issues);
  }
  return {
    speed,
    loops,
    logLevel: level.data,
    shutdownTimeoutMs: timeout.data,
    http: http.data,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
