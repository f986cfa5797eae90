import type { Logger } from 'pino';
import type { CollectorManager } from '../api.ts';
import { ADMIN_TOKEN_ENV } from '../config/load.ts';
import { HTTP_OFF, parseListenAddress } from '../config/schema.ts';
import type { AdminRoute, AdminServer } from './admin.ts';
import type { CliIo } from './io.ts';
import { sanitizeError } from './logging.ts';
import { createNdjsonSink } from './ndjson-sink.ts';

/**
 * Runs a manager until something asks it to stop: writes its events to stdout, stops cleanly on
 * SIGINT or SIGTERM, exits at once on a signal that arrives while it is already stopping, and
 * stops when stdout's reader goes away. Shared by `run` and `demo`.
 *
 * A clean stop is: the supervisor stops every collector (each connection sends close 1000 and
 * waits for the peer's close, bounded by its machine's close timeout), then every event
 * line already handed to stdout drains, then the logger flushes. All of it must finish within
 * `shutdownTimeoutMs` of the stop request, or the process logs an error and exits 1.
 *
 * With `admin`, the HTTP admin listener (admin.ts) runs from before the start to after the stop;
 * its `/readyz` turns 503 at the stop request, before the first collector is told to stop.
 */

export type StopReason = 'SIGINT' | 'SIGTERM' | 'stdout-closed' | 'failed' | 'replay-finished';

/** 128 + signal number, the shell's convention for "ended by a signal". */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

export interface ServeOptions {
  readonly io: CliIo;
  readonly logger: Logger;
  /** An extra stop condition (the demo's end of replay). */
  readonly until?: Promise<StopReason>;
  /** From the stop request to the last flushed line; past it the process exits 1. */
  readonly shutdownTimeoutMs: number;
  /** The HTTP admin listener; none when absent (`--http off`). */
  readonly admin?: AdminSettings | undefined;
}

export interface AdminSettings {
  readonly host: string;
  readonly port: number;
  /** From `MARKET_COLLECTOR_ADMIN_TOKEN`: the control routes exist only with one. */
  readonly token: string | undefined;
  readonly metricsSymbols: boolean;
  /** Routes of other modules (the dashboard's), mounted beside the admin's own. */
  readonly routes?: readonly AdminRoute[];
  /** Told the bound address once listening (port 0 picks one). */
  readonly onListening?: (url: string) => void;
}

/** A token this short can be guessed; it is accepted, with a warning. */
const WEAK_TOKEN_CHARS = 16;

/** The admin listener of `run` and `demo`: the `http` setting, the token from the environment. */
export function adminSettings(
  http: string,
  metricsSymbols: boolean,
  env: CliIo['env'],
): AdminSettings | undefined {
  if (http === HTTP_OFF) return undefined;
  const address = parseListenAddress(http);
  // The config schema validated the setting; a malformed one cannot get here.
  if (address === undefined) throw new Error(`invalid admin listen address "${http}"`);
  const token = env[ADMIN_TOKEN_ENV];
  return {
    ...address,
    token: token === undefined || token === '' ? undefined : token,
    metricsSymbols,
  };
}

/** Resolves with why it stopped, once stopped and flushed. */
export async function serve(manager: CollectorManager, options: ServeOptions): Promise<StopReason> {
  const { io, logger } = options;
  const latch = stopLatch();
  // First: a port already taken stops the start before anything else began.
  const admin =
    options.admin === undefined
      ? undefined
      : await startAdmin(manager, options.admin, logger, latch.stopping);
  const sink = createNdjsonSink(io.stdout, {
    onFull: () => logger.warn('stdout is slower than the feed; events are buffered in memory'),
    onBroken: (err) => {
      logger.info({ err }, 'stdout closed by its reader; stopping');
      latch.stop('stdout-closed');
    },
  });
  const removeSignals = onSignals(io, logger, latch);
  options.until?.then(latch.stop, (err: unknown) => {
    logger.error({ err }, 'stop condition failed');
    latch.stop('failed');
  });
  const subscription = manager.data$.subscribe({
    next: (event) => sink.write(event),
    error: (err: unknown) => {
      logger.error({ err }, 'data stream failed');
      latch.stop('failed');
    },
  });
  let reason: StopReason = 'failed';
  let deadline: NodeJS.Timeout | undefined;
  try {
    try {
      manager.startAll();
      logger.info({ collectors: manager.listCollectors().length }, 'collectors started');
      reason = await latch.stopped;
      logger.info({ reason }, 'stopping collectors');
    } finally {
      // Stopping is also the cleanup when starting threw: stopAll is idempotent.
      deadline = armDeadline(io, logger, options.shutdownTimeoutMs);
      await manager.stopAll();
      // Only after stopAll: the last events of a closing connection still reach the sink.
      subscription.unsubscribe();
    }
    await sink.flush();
    // After the stop: probes see 503 from /readyz until the collectors are down, not a refusal.
    await admin?.close();
    logger.info(sink.stats(), 'stopped');
    await flushLogger(logger);
  } finally {
    await admin?.close();
    clearTimeout(deadline);
    // Last: a second signal during the flush must still exit at once, not find no listener.
    removeSignals();
  }
  return reason;
}

async function startAdmin(
  manager: CollectorManager,
  settings: AdminSettings,
  logger: Logger,
  isShuttingDown: () => boolean,
): Promise<AdminServer> {
  if (settings.token !== undefined && settings.token.length < WEAK_TOKEN_CHARS) {
    logger.warn({ minChars: WEAK_TOKEN_CHARS }, `${ADMIN_TOKEN_ENV} is short enough to guess`);
  }
  // Loaded only when asked for: prom-client costs some 30 ms at start.
  const { startAdminServer } = await import('./admin.ts');
  try {
    const server = await startAdminServer({ ...settings, manager, logger, isShuttingDown });
    settings.onListening?.(server.url);
    return server;
  } catch (error) {
    const { message } = sanitizeError(error);
    throw new Error(`admin listener on ${settings.host}:${settings.port} failed: ${message}`);
  }
}

/** Exits 1 if the stop is not over in time; unref'd, so it never holds a stopped process. */
function armDeadline(io: CliIo, logger: Logger, timeoutMs: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    logger.error({ timeoutMs }, 'shutdown deadline passed; exiting without a clean stop');
    io.exit(1);
  }, timeoutMs);
  timer.unref();
  return timer;
}

function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

interface StopLatch {
  readonly stopped: Promise<StopReason>;
  readonly stop: (reason: StopReason) => void;
  readonly stopping: () => boolean;
}

/** A signal starts a clean stop; one while stopping means the operator will not wait. */
function onSignals(io: CliIo, logger: Logger, latch: StopLatch): () => void {
  const removers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      if (!latch.stopping()) {
        latch.stop(signal);
        return;
      }
      logger.warn({ signal }, 'signal while stopping; exiting without a clean stop');
      io.exit(SIGNAL_EXIT_CODES[signal]);
    };
    io.signals.on(signal, handler);
    return () => io.signals.off(signal, handler);
  });
  return () => {
    for (const remove of removers) remove();
  };
}

function stopLatch(): StopLatch {
  let stopping = false;
  let resolve: (reason: StopReason) => void = () => undefined;
  const stopped = new Promise<StopReason>((r) => {
    resolve = r;
  });
  const stop = (reason: StopReason) => {
    stopping = true;
    resolve(reason);
  };
  return { stopped, stop, stopping: () => stopping };
}
