import { stringify as stringifyYaml } from 'yaml';
import { resolveServiceCredentials } from '../config/credentials.ts';
import { type ConfigFlags, loadServiceConfig } from '../config/load.ts';
import { redactFields } from '../config/redact.ts';
import {
  type CollectorConfig,
  configError,
  type ServiceConfig,
  symbolsOf,
} from '../config/schema.ts';
import { attachDashboard, dashboardUrl } from './dashboard.ts';
import { type CliIo, resolveManagerFactory } from './io.ts';
import { createLogger } from './logging.ts';
import {
  clearingOnExit,
  createTerminal,
  printOnStart,
  resolveLogFormat,
  runSummary,
} from './progress.ts';
import { adminSettings, serve } from './serve.ts';
import { combineObservers, createTimeline } from './timeline.ts';

/**
 * `market-collector run`: collectors from file, environment and flags; events to stdout. Also
 * `config print`, which shows the config `run` would use, and `config validate`, which checks a
 * file on its own.
 */

export interface RunFlags extends ConfigFlags {
  readonly config?: string | undefined;
  /** `--inspect URL`: a Stately inspector relay (see inspect.ts). */
  readonly inspect?: string | undefined;
  /** `--log-format pretty|json`: pretty (a summary line, warnings) on a TTY, json elsewhere. */
  readonly logFormat?: string | undefined;
}

export interface PrintFlags extends RunFlags {
  /** `yaml` (the default) or `json`. */
  readonly format?: string | undefined;
}

const FORMATS = ['yaml', 'json'] as const;

/** Resolves with the exit code; throws `ConfigError` before anything starts. */
export async function runCommand(flags: RunFlags, io: CliIo): Promise<number> {
  const config = await loadServiceConfig({ file: flags.config, env: io.env, flags });
  // Now, so a variable that is not set or a secrets file others can read stops the start.
  const credentials = await resolveServiceCredentials(config, io.env);
  const format = resolveLogFormat(flags.logFormat, io.stderr);
  const terminal = createTerminal({ stream: io.stderr, format, level: config.logLevel });
  const destination = terminal.destination ?? io.logDestination;
  const logger = createLogger({ level: terminal.level, destination });
  const createManager = await resolveManagerFactory(io);
  // Loaded only when asked for: @statelyai/inspect costs ~100 ms at start.
  const inspector =
    flags.inspect === undefined
      ? undefined
      : (await import('./inspect.ts')).createInspector(flags.inspect, { logger });
  // TODO(private channels): the manager takes no credentials yet, so none of its collectors can
  // log in; once ManagerOptions accepts the resolved `Credentials`, pass `credentials` here.
  // The configs go without theirs either way: a literal secret must not sit in an actor's
  // context, where the inspector and snapshots would show it.
  try {
    const admin = adminSettings(config.http, config.metricsSymbols, io.env);
    // The dashboard's timeline watches the same inspection events as the relay, if any.
    const timeline = admin === undefined ? undefined : createTimeline();
    const observers = [timeline?.observer, inspector].filter((o) => o !== undefined);
    const manager = createManager({
      supervisor: config.supervisor,
      collectors: config.collectors.map(withoutCredentials),
      logger,
      ...(observers.length === 0 ? {} : { inspect: combineObservers(...observers) }),
    });
    const withCredentials = credentials.filter((c) => c !== undefined).length;
    if (withCredentials > 0) logger.info({ collectors: withCredentials }, 'credentials resolved');
    const shutdownTimeoutMs = config.shutdownTimeoutMs;
    const url = admin === undefined ? undefined : dashboardUrl(admin);
    if (url !== undefined) printOnStart(terminal, manager, `market-collector: dashboard at ${url}`);
    terminal.start(runSummary(manager));
    const reason = await serve(manager, {
      io: clearingOnExit(io, terminal),
      logger,
      shutdownTimeoutMs,
      admin:
        timeline === undefined
          ? admin
          : attachDashboard(admin, { manager, timeline, logger }, (bound) =>
              terminal.print(`market-collector: dashboard at ${bound}`),
            ),
    });
    return reason === 'failed' ? 1 : 0;
  } finally {
    terminal.stop();
    // After serve: the last transitions of the stop still reach the relay.
    await inspector?.stop();
  }
}

/** `config print`: the config `run` would use, every default applied, secrets `[redacted]`. */
export async function printConfigCommand(flags: PrintFlags, io: CliIo): Promise<number> {
  const format = flags.format ?? 'yaml';
  if (!isFormat(format)) {
    throw configError([{ field: 'format', received: format, expected: 'yaml or json' }]);
  }
  const config = await loadServiceConfig({ file: flags.config, env: io.env, flags });
  const shown = redactFields(config);
  io.stdout.write(format === 'json' ? `${JSON.stringify(shown, null, 2)}\n` : stringifyYaml(shown));
  return 0;
}

/**
 * `config validate FILE`: the file alone, as a deploy check would see it. The environment is
 * left out on purpose, so the answer does not depend on the shell it is asked from; secrets files
 * and variables are not read, as they are often only present where the service runs.
 */
export async function validateConfigCommand(file: string, io: CliIo): Promise<number> {
  const config = await loadServiceConfig({ file, env: {}, flags: {} });
  io.stdout.write(`valid: ${summary(config)}\n`);
  return 0;
}

/** `2 collectors (okx: BTC-USDT, ETH-USDT; okx: BTC-USDT-SWAP)`. */
function summary(config: ServiceConfig): string {
  const count = config.collectors.length;
  const each = config.collectors.map((c) => `${c.exchange}: ${symbolsOf(c).join(', ')}`);
  return `${count} collector${count === 1 ? '' : 's'} (${each.join('; ')})`;
}

function withoutCredentials(config: CollectorConfig): CollectorConfig {
  const { credentials: _credentials, ...rest } = config;
  return rest;
}

function isFormat(value: string): value is (typeof FORMATS)[number] {
  return (FORMATS as readonly string[]).includes(value);
}
