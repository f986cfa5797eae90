import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { getExchange, hasExchange, supportedExchanges } from '../exchanges/registry.ts';
import {
  type CollectorConfig,
  ConfigError,
  type ConfigIssue,
  configError,
  DEFAULT_EXCHANGE,
  parseServiceConfig,
  type ServiceConfig,
  symbolsOf,
} from './schema.ts';

/**
 * Loads the service configuration from a file, the environment and command-line flags.
 *
 * Precedence, per field: file < environment < flags. Flags and environment describe one
 * collector (`exchange`, `symbols`, `dataTypes`, `endpoint`) and the service's `logLevel`:
 *
 * - without a file, that one collector is the whole list; its exchange defaults to
 *   `DEFAULT_EXCHANGE`, and it needs symbols;
 * - with a file, naming `symbols` replaces the file's collector list with that one collector,
 *   built on the file's first collector (so its endpoint, timers and data types carry over);
 * - with a file, naming only `exchange`, `dataTypes` or `endpoint` overrides that field in every
 *   collector of the file (e.g. `--endpoint` to point a production file at a local mock).
 *
 * Every default lives in `schema.ts`; this module only merges sources and validates the result,
 * including what only the exchange registry knows (exchange ids, symbol forms, data types).
 */

export const ENV = {
  config: 'MARKET_COLLECTOR_CONFIG',
  exchange: 'MARKET_COLLECTOR_EXCHANGE',
  symbols: 'MARKET_COLLECTOR_SYMBOLS',
  dataTypes: 'MARKET_COLLECTOR_DATA_TYPES',
  endpoint: 'MARKET_COLLECTOR_ENDPOINT',
  logLevel: 'MARKET_COLLECTOR_LOG_LEVEL',
} as const;

/** Flag values as given on the command line; lists are comma-separated. */
export interface ConfigFlags {
  readonly exchange?: string | undefined;
  readonly symbols?: string | undefined;
  readonly dataTypes?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly logLevel?: string | undefined;
}

export interface LoadConfigOptions {
  /** A `.json`, `.yaml` or `.yml` file (`--config`); `MARKET_COLLECTOR_CONFIG` when absent. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: ConfigFlags;
}

type OverrideKey = Exclude<keyof typeof ENV, 'config'>;
type Overrides = Partial<Record<OverrideKey, string | string[]>>;

const OVERRIDE_KEYS: readonly OverrideKey[] = [
  'exchange',
  'symbols',
  'dataTypes',
  'endpoint',
  'logLevel',
];
const LIST_KEYS: ReadonlySet<OverrideKey> = new Set(['symbols', 'dataTypes']);
const FILE_FORMATS: Readonly<Record<string, 'json' | 'yaml'>> = {
  '.json': 'json',
  '.yaml': 'yaml',
  '.yml': 'yaml',
};

/** Merges file, environment and flags, validates, applies defaults; throws `ConfigError`. */
export async function loadServiceConfig(options: LoadConfigOptions): Promise<ServiceConfig> {
  const file = nonEmpty(options.file) ?? nonEmpty(options.env[ENV.config]);
  const fromFile = file === undefined ? undefined : await readConfigFile(file);
  const overrides: Overrides = {
    ...readOverrides((key) => options.env[ENV[key]]),
    ...readOverrides((key) => options.flags[key]),
  };
  const config = parseServiceConfig(merge(fromFile, overrides));
  const issues = config.collectors.flatMap(checkAgainstRegistry);
  if (issues.length > 0) throw configError(issues);
  return config;
}

/** Reads and parses a config file; a missing, unreadable or unparsable file names itself. */
export async function readConfigFile(file: string): Promise<unknown> {
  const format = FILE_FORMATS[extname(file).toLowerCase()];
  if (format === undefined) {
    throw fileError(file, 'has an unknown extension', 'a .json, .yaml or .yml file');
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw fileError(file, `could not be read (${errorCode(error)})`, 'a readable file');
  }
  try {
    return format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // Only the first line: parser messages go on to quote the offending source line.
    const reason = firstLine(error instanceof Error ? error.message : String(error));
    throw fileError(file, `is not valid ${format.toUpperCase()}: ${reason}`, `valid ${format}`);
  }
}

function fileError(file: string, problem: string, expected: string): ConfigError {
  const issue: ConfigIssue = { field: 'config', received: file, expected };
  return new ConfigError(`config file "${file}" ${problem}`, [issue]);
}

function readOverrides(read: (key: OverrideKey) => string | undefined): Overrides {
  const overrides: Overrides = {};
  for (const key of OVERRIDE_KEYS) {
    const value = nonEmpty(read(key));
    if (value === undefined) continue;
    overrides[key] = LIST_KEYS.has(key) ? splitList(value) : value;
  }
  return overrides;
}

function merge(fromFile: unknown, overrides: Overrides): unknown {
  const { logLevel, ...collector } = overrides;
  const level = logLevel === undefined ? {} : { logLevel };
  if (fromFile === undefined) {
    return { ...level, collectors: [{ exchange: DEFAULT_EXCHANGE, ...collector }] };
  }
  // Anything but an object at the root is left for the schema to report.
  if (!isRecord(fromFile)) return fromFile;
  const list = fromFile.collectors;
  if (collector.symbols !== undefined) {
    const first = Array.isArray(list) && isRecord(list[0]) ? list[0] : {};
    // `symbol` goes too: the schema refuses a collector that has both.
    const { symbol: _symbol, symbols: _symbols, ...rest } = first;
    const single = { exchange: DEFAULT_EXCHANGE, ...rest, ...collector };
    return { ...fromFile, ...level, collectors: [single] };
  }
  const collectors = Array.isArray(list)
    ? list.map((entry: unknown) => (isRecord(entry) ? { ...entry, ...collector } : entry))
    : list;
  return { ...fromFile, ...level, collectors };
}

/** What the schema cannot know: the exchange exists, and accepts these symbols and data types. */
function checkAgainstRegistry(config: CollectorConfig, index: number): ConfigIssue[] {
  const prefix = `collectors.${index}`;
  if (!hasExchange(config.exchange)) {
    const expected = `one of the supported exchanges: ${supportedExchanges().join(', ')}`;
    return [{ field: `${prefix}.exchange`, received: config.exchange, expected }];
  }
  const adapter = getExchange(config.exchange);
  const symbolIssues = symbolsOf(config).flatMap((symbol, i): ConfigIssue[] => {
    const problem = adapter.validateSymbol(symbol);
    const field = config.symbols === undefined ? `${prefix}.symbol` : `${prefix}.symbols.${i}`;
    return problem === undefined ? [] : [{ field, received: symbol, expected: problem }];
  });
  const typeIssues = config.dataTypes.flatMap((dataType, i): ConfigIssue[] => {
    if (adapter.dataTypes.includes(dataType)) return [];
    const expected = `a data type ${adapter.id} supports: ${adapter.dataTypes.join(', ')}`;
    return [{ field: `${prefix}.dataTypes.${i}`, received: dataType, expected }];
  });
  return [...symbolIssues, ...typeIssues];
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** An empty flag or variable counts as unset, as `VAR= command` means in a shell. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function errorCode(error: unknown): string {
  const code = isRecord(error) ? error.code : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
