import type { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import type { CollectorManager, ManagerOptions } from '../api.ts';

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
