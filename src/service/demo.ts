import { setTimeout as sleep } from 'node:timers/promises';
import { ENV } from '../config/load.ts';
import {
  type ConfigIssue,
  configError,
  LOG_LEVELS,
  type LogLevel,
  parseServiceConfig,
  serviceConfigSchema,
} from '../config/schema.ts';
import { DEMO_DEFAULTS, type DemoExchange, startDemoExchange } from './demo-exchange.ts';
import { type CliIo, resolveManagerFactory } from './io.ts';
import { createLogger } from './logging.ts';
import { type StopReason, serve } from './serve.ts';

/**
 * `market-collector demo`: the built-in OKX-protocol exchange on 127.0.0.1 replays recorded
 * traffic to one collector, whose events are printed as `run` prints them.
 */

export interface DemoFlags {
  readonly speed?: string | undefined;
  readonly loops?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly shutdownTimeoutMs?: string | undefined;
}

/** Time for the last frames of the final pass to cross the socket and the parser. */
const DRAIN_MS = 250;

export async function demoCommand(flags: DemoFlags, io: CliIo): Promise<number> {
  const { speed, loops, logLevel, shutdownTimeoutMs } = parseDemoFlags(flags, io.env);
  const logger = createLogger({ level: logLevel, destination: io.logDestination });
  const createManager = await resolveManagerFactory(io);
  const exchange = await startDemoExchange({ speed, passes: loops });
  try {
    const config = parseServiceConfig({ logLevel, collectors: [demoCollector(exchange)] });
    logger.info({ endpoint: exchange.endpoint, speed, loops }, 'demo exchange listening');
    const manager = createManager({
      supervisor: config.supervisor,
      collectors: config.collectors,
      logger,
    });
    const reason = await serve(manager, {
      io,
      logger,
      shutdownTimeoutMs,
      ...(loops > 0 ? { until: afterPasses(exchange, loops) } : {}),
    });
    return reason === 'failed' ? 1 : 0;
  } finally {
    await exchange.close();
  }
}

function demoCollector(exchange: DemoExchange) {
  return {
    id: 'demo',
    exchange: 'okx',
    symbols: [...exchange.instruments],
    dataTypes: ['trade', 'ticker'],
    endpoint: exchange.endpoint,
  };
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
  if (issues.length > 0 || !level.success || !timeout.success) throw configError(issues);
  return { speed, loops, logLevel: level.data, shutdownTimeoutMs: timeout.data };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
