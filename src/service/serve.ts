import type { Logger } from 'pino';
import type { CollectorManager } from '../api.ts';
import type { CliIo } from './io.ts';
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
}

/** Resolves with why it stopped, once stopped and flushed. */
export async function serve(manager: CollectorManager, options: ServeOptions): Promise<StopReason> {
  const { io, logger } = options;
  const latch = stopLatch();
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
    logger.info(sink.stats(), 'stopped');
    await flushLogger(logger);
  } finally {
    clearTimeout(deadline);
    // Last: a second signal during the flush must still exit at once, not find no listener.
    removeSignals();
  }
  return reason;
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
