import type { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import type { CollectorManager, ManagerOptions } from '../api.ts';
import { createLogger } from './logging.ts';

/**
 * What the commands need from the process, passed in so tests can drive `main` without spawning:
 * `processIo()` in production, fakes in tests.
 */

export interface SignalSource {
  on(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  off(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
}

export type ManagerFactory = (options: ManagerOptions) => CollectorManager;

export interface CliIo {
  /** Normalized events, one JSON line each. */
  readonly stdout: Writable;
  /** Usage and configuration errors; logs go here too unless `logDestination` is given. */
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signals: SignalSource;
  /** Ends the process at once: a second signal does not wait for a clean stop. */
  readonly exit: (code: number) => void;
  readonly logDestination?: DestinationStream;
  /** The runtime's `createCollectorManager` unless a test supplies its own. */
  readonly createManager?: ManagerFactory;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signals: process,
    exit: (code) => process.exit(code),
  };
}

/** Loaded on first use, so `--help` and configuration errors answer without loading the runtime. */
export async function resolveManagerFactory(io: CliIo): Promise<ManagerFactory> {
  if (io.createManager !== undefined) return io.createManager;
  const { createCollectorManager } = await import('../machines/manager.ts');
  return createCollectorManager;
}

export type FatalOrigin = 'uncaughtException' | 'unhandledRejection';

/**
 * What the CLI does with an error nobody caught: one line at fatal, through the sanitizer, then
 * exit 1. The state of the process is unknown by then, so it does not try a clean stop. The line
 * is written whatever the configured level, by a logger of its own: the service's may not exist
 * yet, or may be the thing that failed.
 */
export function fatalHandler(
  io: Pick<CliIo, 'exit' | 'logDestination'>,
): (error: unknown, origin: FatalOrigin) => void {
  const logger = createLogger({ level: 'fatal', destination: io.logDestination });
  return (error, origin) => {
    try {
      const what = origin === 'uncaughtException' ? 'uncaught exception' : 'unhandled rejection';
      logger.fatal({ err: error, origin }, `${what}; exiting`);
    } catch {
      // stderr itself failed: nothing is left to tell, and exiting matters more.
    }
    io.exit(1);
  };
}

export interface FatalSource {
  on(event: 'uncaughtException', listener: (error: Error) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

/** For the CLI entry only: a library must leave the process's fatal handling to its host. */
export function installFatalHandlers(target: FatalSource, io: CliIo): void {
  const handle = fatalHandler(io);
  target.on('uncaughtException', (error) => handle(error, 'uncaughtException'));
  target.on('unhandledRejection', (reason) => handle(reason, 'unhandledRejection'));
}
