import { type ConfigFlags, loadServiceConfig } from '../config/load.ts';
import { type CliIo, resolveManagerFactory } from './io.ts';
import { createLogger } from './logging.ts';
import { serve } from './serve.ts';

/** `market-collector run`: collectors from file, environment and flags; events to stdout. */

export interface RunFlags extends ConfigFlags {
  readonly config?: string | undefined;
}

/** Resolves with the exit code; throws `ConfigError` before anything starts. */
export async function runCommand(flags: RunFlags, io: CliIo): Promise<number> {
  const config = await loadServiceConfig({ file: flags.config, env: io.env, flags });
  const logger = createLogger({ level: config.logLevel, destination: io.logDestination });
  const createManager = await resolveManagerFactory(io);
  const manager = createManager({ collectors: config.collectors, logger });
  await serve(manager, { io, logger });
  return 0;
}
