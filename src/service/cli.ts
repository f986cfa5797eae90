#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ENV } from '../config/load.ts';
import { ConfigError, DEFAULT_EXCHANGE, LOG_LEVELS } from '../config/schema.ts';
import { DATA_TYPES } from '../streams/events.ts';
import { demoCommand } from './demo.ts';
import { DEMO_DEFAULTS } from './demo-exchange.ts';
import { type CliIo, processIo } from './io.ts';
import { redactSecrets, sanitizeError } from './logging.ts';
import { runCommand } from './run.ts';

/** `market-collector`: parses the command line and hands over to a command. Nothing else. */

export const USAGE = `Usage:
  market-collector run [options]    collect market data; one JSON event per line on stdout
  market-collector demo [options]   replay recorded OKX traffic through a local exchange
  market-collector --help

run options:
  --config FILE      a .json, .yaml or .yml service config
  --exchange ID      exchange id (default ${DEFAULT_EXCHANGE})
  --symbols A,B      instrument ids, e.g. BTC-USDT,BTC-USDT-SWAP
  --data-types T,U   any of ${DATA_TYPES.join(', ')}
  --endpoint URL     ws:// or wss:// base endpoint
  --log-level L      one of ${LOG_LEVELS.join(', ')}
  The environment variables ${Object.values(ENV).join(',\n  ')}
  stand for the same options. Flags override the environment, which overrides the file.
  With a file, naming symbols replaces its collectors with one, based on its first;
  --exchange, --data-types and --endpoint alone apply to every collector of the file.

demo options:
  --speed N          replay speed factor (default ${DEMO_DEFAULTS.speed})
  --loops N          passes to replay before stopping, 0: never (default ${DEMO_DEFAULTS.loops})
  --log-level L      as for run

Logs go to stderr. SIGINT or SIGTERM stops cleanly; a second signal exits at once.
Exit codes: 0 stopped, 1 failed, 2 invalid command line or configuration.
`;

const RUN_OPTIONS = {
  config: { type: 'string' },
  exchange: { type: 'string' },
  symbols: { type: 'string' },
  'data-types': { type: 'string' },
  endpoint: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DEMO_OPTIONS = {
  speed: { type: 'string' },
  loops: { type: 'string' },
  'log-level': { type: 'string' },
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
    const { 'data-types': dataTypes, 'log-level': logLevel, help: _help, ...same } = values;
    return runCommand({ ...same, dataTypes, logLevel }, io);
  }
  if (command === 'demo') {
    const { values } = parseArgs({ args: rest, options: DEMO_OPTIONS, strict: true });
    if (values.help === true) return help(io);
    return demoCommand(
      { speed: values.speed, loops: values.loops, logLevel: values['log-level'] },
      io,
    );
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
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
  const code = await main(process.argv.slice(2), processIo());
  process.exitCode = code;
  // A handle that outlived stopAll (a bug elsewhere) must not keep a stopped service running.
  setTimeout(() => process.exit(code), 2_000).unref();
}
