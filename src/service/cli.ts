#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ADMIN_TOKEN_ENV,
  ENV,
  ENV_PREFIX,
  SUPERVISOR_SETTINGS,
  TIMER_SETTINGS,
} from '../config/load.ts';
import {
  ConfigError,
  DEFAULT_EXCHANGE,
  DEFAULT_HTTP,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_SUPERVISION,
  LOG_LEVELS,
  RESTART_STRATEGIES,
} from '../config/schema.ts';
import {
  DEFAULT_BOOK_CHANNEL,
  DEFAULT_CANDLE_INTERVAL,
  OKX_BOOK_CHANNELS,
} from '../exchanges/okx/channels.ts';
import { DATA_TYPES } from '../streams/events.ts';
import { demoCommand } from './demo.ts';
import { DEMO_DEFAULTS } from './demo-exchange.ts';
import { exchangesCommand } from './exchanges.ts';
import { type CliIo, installFatalHandlers, processIo } from './io.ts';
import { redactSecrets, sanitizeError } from './logging.ts';
import { MACHINE_FORMATS, machinesCommand } from './machines.ts';
import { printConfigCommand, type RunFlags, runCommand, validateConfigCommand } from './run.ts';
import { statusCommand, WATCH_INTERVAL_MS } from './status.ts';

/** `market-collector`: parses the command line and hands over to a command. Nothing else. */

export const USAGE = `Usage:
  market-collector run [options]    collect market data; one JSON event per line on stdout
  market-collector demo [options]   replay recorded OKX traffic through a local exchange
  market-collector config validate FILE
                                    check a config file on its own, without the environment
  market-collector config print [run options] [--format yaml|json]
                                    the config run would use: defaults applied, secrets redacted
  market-collector machines [opts]  print each statechart's definition
  market-collector status [--url URL] [--json] [--watch]
                                    the collectors of a running service, from its /status
  market-collector exchanges [--json]
                                    the supported exchanges and their data types
  market-collector --help

run options:
  --config FILE      a .json, .yaml or .yml service config
  --exchange ID      exchange id (default ${DEFAULT_EXCHANGE})
  --symbols A,B      instrument ids, e.g. BTC-USDT,BTC-USDT-SWAP
  --data-types T,U   any of ${DATA_TYPES.join(', ')}
  --endpoint URL     ws:// or wss:// base endpoint
  --book-channel NAME
                     depth channel of orderbook: ${OKX_BOOK_CHANNELS.join(', ')}
                     (default ${DEFAULT_BOOK_CHANNEL})
  --candle-interval BAR
                     bar of candle, e.g. 1s, 1m, 5m, 1H, 1D (default ${DEFAULT_CANDLE_INTERVAL})
  --book-snapshot M  where book snapshots come from: auto (pushed, else REST; the default)
                     or rest (always REST)
  --log-level L      one of ${LOG_LEVELS.join(', ')}
  --log-format F     pretty (a live summary line and warnings; default on a TTY) or json
  --inspect URL      send lifecycle inspection events, sanitized, to a Stately inspector relay
                     at this ws:// URL (off by default)
  --restart-strategy S
                     ${RESTART_STRATEGIES.join(', ')} (default ${DEFAULT_SUPERVISION.strategy})
  --max-restarts N   restarts allowed within withinMs (default ${DEFAULT_SUPERVISION.maxRestarts})
  --timer PATH=V     one timer of every collector, e.g. pingIntervalMs=15000; repeatable
  --supervisor PATH=V
                     one supervisor field, e.g. health.intervalMs=2000; repeatable
  --shutdown-timeout-ms MS
                     deadline of a clean stop, then exit 1 (default ${DEFAULT_SHUTDOWN_TIMEOUT_MS})
  --http HOST:PORT   the admin listener: /livez, /readyz, /status, /metrics (default
                     ${DEFAULT_HTTP}; port 0 picks a free one; off disables it)
  --metrics-symbols  add a symbol label to the metrics that have one (off by default)
  ${ADMIN_TOKEN_ENV}, when set, enables POST /collectors/ID/restart, enable and
  disable with "Authorization: Bearer <token>"; there is no flag for it.
  The environment variables ${Object.values(ENV).join(',\n  ')}
  stand for the same options. Flags override the environment, which overrides the file.
  With a file, naming symbols replaces its collectors with one, based on its first;
  the other collector options (--exchange, --data-types, --endpoint, --book-channel,
  --candle-interval, --book-snapshot) and timers alone apply to every collector of the file.
  Every timer and supervisor field also has a variable: its PATH in SCREAMING_SNAKE_CASE after
  ${ENV_PREFIX.timers} or ${ENV_PREFIX.supervisor}, e.g.
  ${TIMER_SETTINGS.find((s) => s.path === 'pingIntervalMs')?.env}=15000 (except
  ${SUPERVISOR_SETTINGS.filter((s) => !s.env.startsWith(ENV_PREFIX.supervisor))
    .map((s) => s.env)
    .join(' and ')}, above).
  Timer paths:
    ${wrap(TIMER_SETTINGS.map((s) => s.path))}
  Supervisor paths:
    ${wrap(SUPERVISOR_SETTINGS.map((s) => s.path))}

credentials (for private channels; per collector, or for all at the root of the config):
  credentials: { apiKeyEnv, secretKeyEnv, passphraseEnv, file } names environment variables and
  a .json or .yaml secrets file (apiKey, secretKey, passphrase), relative to the config file.
  A config or secrets file that holds a secret must be readable by its owner only (chmod 600),
  or it is refused. Secrets are never logged or printed.

demo options:
  --speed N          replay speed factor (default ${DEMO_DEFAULTS.speed})
  --loops N          passes to replay before stopping, 0: never (default ${DEMO_DEFAULTS.loops})
  --log-level L      as for run
  --log-format F     as for run
  --shutdown-timeout-ms MS
                     as for run
  --http HOST:PORT   as for run

status options:
  --url URL          the admin listener of the service (default from ${ENV.http}, else
                     http://${DEFAULT_HTTP})
  --json             the status as JSON instead of a table
  --watch            redraw every ${WATCH_INTERVAL_MS / 1_000} s until Ctrl-C
  Colors only on a terminal, never with NO_COLOR set; FORCE_COLOR colors a pipe.

machines options:
  --format F         ${MACHINE_FORMATS.join(', ')}: a Mermaid state diagram (default),
                     Stately Studio import source, or the definition as JSON
  --machine NAME     only this machine (connection, collector, supervisor)
  --write-readme F   rewrite the <!-- diagram:NAME:start --> blocks of the Markdown file F

Logs go to stderr. SIGINT or SIGTERM stops cleanly: every connection closes with code 1000,
stdout drains, exit 0; past the shutdown timeout exit 1; a second signal exits at once (130 for
SIGINT, 143 for SIGTERM). An uncaught error is logged at fatal and exits 1.
Exit codes: 0 stopped, 1 failed, 2 invalid command line or configuration.
`;

const RUN_OPTIONS = {
  config: { type: 'string' },
  exchange: { type: 'string' },
  symbols: { type: 'string' },
  'data-types': { type: 'string' },
  endpoint: { type: 'string' },
  'book-channel': { type: 'string' },
  'candle-interval': { type: 'string' },
  'book-snapshot': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  inspect: { type: 'string' },
  'restart-strategy': { type: 'string' },
  'max-restarts': { type: 'string' },
  timer: { type: 'string', multiple: true },
  supervisor: { type: 'string', multiple: true },
  'shutdown-timeout-ms': { type: 'string' },
  http: { type: 'string' },
  'metrics-symbols': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const PRINT_OPTIONS = { ...RUN_OPTIONS, format: { type: 'string' } } as const;

const VALIDATE_OPTIONS = { help: { type: 'boolean', short: 'h' } } as const;

const DEMO_OPTIONS = {
  speed: { type: 'string' },
  loops: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'shutdown-timeout-ms': { type: 'string' },
  http: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const STATUS_OPTIONS = {
  url: { type: 'string' },
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EXCHANGES_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MACHINES_OPTIONS = {
  format: { type: 'string' },
  machine: { type: 'string' },
  'write-readme': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

/** Runs one command line; resolves with the process exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    return report(error, io);
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') return help(io);
  if (command === 'run') {
    const { values } = parseArgs({ args: rest, options: RUN_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    return runCommand(runFlags(values), io);
  }
  if (command === 'config') return configCommand(rest, io);
  if (command === 'demo') {
    const { values } = parseArgs({ args: rest, options: DEMO_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    const {
      speed,
      loops,
      'log-level': logLevel,
      'log-format': logFormat,
      'shutdown-timeout-ms': shutdownTimeoutMs,
      http,
    } = values;
    return demoCommand({ speed, loops, logLevel, logFormat, shutdownTimeoutMs, http }, io);
  }
  if (command === 'status') {
    const { values } = parseArgs({ args: rest, options: STATUS_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    return statusCommand({ url: values.url, json: values.json, watch: values.watch }, io);
  }
  if (command === 'exchanges') {
    const { values } = parseArgs({ args: rest, options: EXCHANGES_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    return exchangesCommand({ json: values.json }, io);
  }
  if (command === 'machines') {
    const { values } = parseArgs({ args: rest, options: MACHINES_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    const { format, machine, 'write-readme': writeReadme } = values;
    return machinesCommand({ format, machine, writeReadme }, io);
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
}

async function configCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === 'validate') {
    const parsed = parseArgs({ args: rest, options: VALIDATE_OPTIONS, allowPositionals: true });
    if (parsed.values.help === true) return help(io);
    const [file, ...extra] = parsed.positionals;
    if (file === undefined || extra.length > 0) {
      throw new UsageError('config validate takes one FILE');
    }
    return validateConfigCommand(file, io);
  }
  if (subcommand === 'print') {
    const { values } = parseArgs({ args: rest, options: PRINT_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    return printConfigCommand({ ...runFlags(values), format: values.format }, io);
  }
  throw new UsageError(
    subcommand === undefined ? 'no config command given' : `unknown config command "${subcommand}"`,
  );
}

/** The values of RUN_OPTIONS, as parseArgs returns them. */
interface RunValues {
  readonly config?: string | undefined;
  readonly exchange?: string | undefined;
  readonly symbols?: string | undefined;
  readonly 'data-types'?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly 'book-channel'?: string | undefined;
  readonly 'candle-interval'?: string | undefined;
  readonly 'book-snapshot'?: string | undefined;
  readonly 'log-level'?: string | undefined;
  readonly 'log-format'?: string | undefined;
  readonly inspect?: string | undefined;
  readonly 'restart-strategy'?: string | undefined;
  readonly 'max-restarts'?: string | undefined;
  readonly timer?: string[] | undefined;
  readonly supervisor?: string[] | undefined;
  readonly 'shutdown-timeout-ms'?: string | undefined;
  readonly http?: string | undefined;
  readonly 'metrics-symbols'?: boolean | undefined;
}

function runFlags(values: RunValues): RunFlags {
  return {
    config: values.config,
    exchange: values.exchange,
    symbols: values.symbols,
    dataTypes: values['data-types'],
    endpoint: values.endpoint,
    bookChannel: values['book-channel'],
    candleInterval: values['candle-interval'],
    bookSnapshot: values['book-snapshot'],
    logLevel: values['log-level'],
    logFormat: values['log-format'],
    inspect: values.inspect,
    restartStrategy: values['restart-strategy'],
    maxRestarts: values['max-restarts'],
    timer: values.timer,
    supervisor: values.supervisor,
    shutdownTimeoutMs: values['shutdown-timeout-ms'],
    http: values.http,
    metricsSymbols: values['metrics-symbols'],
  };
}

/** A list as lines indented by four that stay within 100 columns. */
function wrap(items: readonly string[], indent = '    '): string {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line === '' ? item : `${line}, ${item}`;
    if (next.length > 100 - indent.length - 2 && line !== '') {
      lines.push(`${line},`);
      line = item;
    } else {
      line = next;
    }
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}

function help(io: CliIo): number {
  io.stdout.write(USAGE);
  return 0;
}

function report(error: unknown, io: CliIo): number {
  if (error instanceof ConfigError) {
    // Config messages name the value received; a misplaced secret must not reach the terminal.
    io.stderr.write(`market-collector: ${redactSecrets(error.message)}\n`);
    return 2;
  }
  if (error instanceof UsageError || isParseArgsError(error)) {
    io.stderr.write(`market-collector: ${sanitizeError(error).message}\n\n${USAGE}`);
    return 2;
  }
  const { name, message } = sanitizeError(error);
  io.stderr.write(`market-collector: ${name}: ${message}\n`);
  return 1;
}

/** node:util parseArgs throws TypeErrors whose code starts with ERR_PARSE_ARGS_. */
function isParseArgsError(error: unknown): boolean {
  const code = sanitizeError(error).code;
  return code?.startsWith('ERR_PARSE_ARGS_') === true;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npm installs the bin as a symlink: compare real paths.
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const io = processIo();
  // Here, not in the library: a host program decides what its own uncaught errors do.
  installFatalHandlers(process, io);
  const code = await main(process.argv.slice(2), io);
  process.exitCode = code;
  // A handle that outlived stopAll (a bug elsewhere) must not keep a stopped service running.
  setTimeout(() => process.exit(code), 2_000).unref();
}
