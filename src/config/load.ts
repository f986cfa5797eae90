import { dirname, isAbsolute, resolve } from 'node:path';
import { checkAsFarAsParsed } from './exchange.ts';
import { checkPrivateFile, readConfigFile } from './files.ts';
import { parseConfig } from './issues.ts';
import { findSecretFields } from './redact.ts';
import {
  type ConfigIssue,
  type CredentialsConfig,
  configError,
  DEFAULT_EXCHANGE,
  DEFAULT_SUPERVISION,
  DEFAULT_TIMERS,
  type ServiceConfig,
  serviceConfigSchema,
} from './schema.ts';

export { readConfigFile } from './files.ts';

/**
 * Loads the service configuration from a file, the environment and command-line flags.
 *
 * Precedence, per field: file < environment < flags. Flags and environment describe one
 * collector (`exchange`, `symbols`, `dataTypes`, `endpoint`, `bookChannel`, `candleInterval`,
 * `bookSnapshot`), the timers of every collector, the supervisor, and the service's `logLevel`
 * and `shutdownTimeoutMs`:
 *
 * - without a file, that one collector is the whole list; its exchange defaults to
 *   `DEFAULT_EXCHANGE`, and it needs symbols;
 * - with a file, naming `symbols` replaces the file's collector list with that one collector,
 *   built on the file's first collector (so its endpoint, timers and data types carry over);
 * - with a file, naming only other collector fields (`exchange`, `dataTypes`, `endpoint`, ...)
 *   overrides them in every collector of the file (e.g. `--endpoint` to point a production file
 *   at a local mock);
 * - a timer set by environment or flag (`MARKET_COLLECTOR_TIMERS_PING_INTERVAL_MS`,
 *   `--timer pingIntervalMs=15000`) applies to every collector, over the file's value.
 *
 * A config file holding a literal secret must be readable by its owner only; see `files.ts`.
 * Every default lives in `schema.ts`; this module only merges sources and validates the result,
 * including what only the exchange's adapter knows (exchange ids, symbol forms, data types,
 * channel options; see `exchange.ts`).
 */

export const ENV = {
  config: 'MARKET_COLLECTOR_CONFIG',
  exchange: 'MARKET_COLLECTOR_EXCHANGE',
  symbols: 'MARKET_COLLECTOR_SYMBOLS',
  dataTypes: 'MARKET_COLLECTOR_DATA_TYPES',
  endpoint: 'MARKET_COLLECTOR_ENDPOINT',
  bookChannel: 'MARKET_COLLECTOR_BOOK_CHANNEL',
  candleInterval: 'MARKET_COLLECTOR_CANDLE_INTERVAL',
  bookSnapshot: 'MARKET_COLLECTOR_BOOK_SNAPSHOT',
  logLevel: 'MARKET_COLLECTOR_LOG_LEVEL',
  shutdownTimeoutMs: 'MARKET_COLLECTOR_SHUTDOWN_TIMEOUT_MS',
  restartStrategy: 'MARKET_COLLECTOR_RESTART_STRATEGY',
  maxRestarts: 'MARKET_COLLECTOR_MAX_RESTARTS',
  http: 'MARKET_COLLECTOR_HTTP',
  metricsSymbols: 'MARKET_COLLECTOR_METRICS_SYMBOLS',
} as const;

/**
 * The bearer token of the admin listener's control routes. A secret, so only ever read from the
 * environment: no flag (it would show in `ps`) and no config file field.
 */
export const ADMIN_TOKEN_ENV = 'MARKET_COLLECTOR_ADMIN_TOKEN';

/**
 * Prefixes of the variables that set one field of every collector's `timers`, or of the
 * `supervisor`: the field's dotted path in SCREAMING_SNAKE_CASE, e.g.
 * `MARKET_COLLECTOR_TIMERS_SILENCE_MS_TICKER` for `timers.silenceMs.ticker` and
 * `MARKET_COLLECTOR_SUPERVISOR_HEALTH_INTERVAL_MS` for `supervisor.health.intervalMs`.
 */
export const ENV_PREFIX = {
  timers: 'MARKET_COLLECTOR_TIMERS_',
  supervisor: 'MARKET_COLLECTOR_SUPERVISOR_',
} as const;

/** Flag values as given on the command line; lists are comma-separated. */
export interface ConfigFlags {
  readonly exchange?: string | undefined;
  readonly symbols?: string | undefined;
  readonly dataTypes?: string | undefined;
  readonly endpoint?: string | undefined;
  /** The depth channel of `orderbook` (OKX: `books`, `books5`, `bbo-tbt`). */
  readonly bookChannel?: string | undefined;
  /** The bar of `candle` (OKX: `1m`, `1H`, `1D`, ...). */
  readonly candleInterval?: string | undefined;
  /** `auto` or `rest`: where order book snapshots come from. */
  readonly bookSnapshot?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly shutdownTimeoutMs?: string | undefined;
  readonly restartStrategy?: string | undefined;
  readonly maxRestarts?: string | undefined;
  /** `HOST:PORT` of the admin listener, or `off`. */
  readonly http?: string | undefined;
  readonly metricsSymbols?: boolean | undefined;
  /** `PATH=VALUE` for every collector's timers, e.g. `pingIntervalMs=15000`. */
  readonly timer?: readonly string[] | undefined;
  /** `PATH=VALUE` for the supervisor, e.g. `health.intervalMs=2000`. */
  readonly supervisor?: readonly string[] | undefined;
}

export interface LoadConfigOptions {
  /** A `.json`, `.yaml` or `.yml` file (`--config`); `MARKET_COLLECTOR_CONFIG` when absent. */
  readonly file?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: ConfigFlags;
}

/** One settable field of `timers` or `supervisor`. */
export interface Setting {
  /** Dotted path inside its section, as `--timer` and `--supervisor` take it. */
  readonly path: string;
  /** The environment variable that sets it. */
  readonly env: string;
  readonly kind: 'number' | 'string' | 'boolean';
}

/** Every timer of a collector, derived from the defaults so a new timer is settable at once. */
export const TIMER_SETTINGS: readonly Setting[] = settingsOf(DEFAULT_TIMERS, ENV_PREFIX.timers);

/** Every field of the supervisor; the two most used have short variables of their own. */
export const SUPERVISOR_SETTINGS: readonly Setting[] = settingsOf(
  DEFAULT_SUPERVISION,
  ENV_PREFIX.supervisor,
  { strategy: ENV.restartStrategy, maxRestarts: ENV.maxRestarts },
);

type Tree = { [key: string]: unknown };

/** What environment or flags say, before it is merged into the file. */
interface Overrides {
  readonly collector: Tree;
  readonly service: Tree;
  readonly supervisor: Tree;
  readonly timers: Tree;
}

type Section = Exclude<keyof Overrides, 'collector'>;

const SERVICE_SETTINGS: readonly Setting[] = [
  { path: 'logLevel', env: ENV.logLevel, kind: 'string' },
  { path: 'shutdownTimeoutMs', env: ENV.shutdownTimeoutMs, kind: 'number' },
  { path: 'http', env: ENV.http, kind: 'string' },
  { path: 'metricsSymbols', env: ENV.metricsSymbols, kind: 'boolean' },
];

const SETTINGS: Readonly<Record<Section, readonly Setting[]>> = {
  service: SERVICE_SETTINGS,
  supervisor: SUPERVISOR_SETTINGS,
  timers: TIMER_SETTINGS,
};

/** Flags that set one field each. They apply after `--timer` and `--supervisor`, so they win. */
const NAMED_FLAGS: readonly {
  readonly flag: string;
  readonly value: (flags: ConfigFlags) => string | undefined;
  readonly section: Section;
  readonly path: string;
}[] = [
  { flag: '--log-level', value: (f) => f.logLevel, section: 'service', path: 'logLevel' },
  {
    flag: '--shutdown-timeout-ms',
    value: (f) => f.shutdownTimeoutMs,
    section: 'service',
    path: 'shutdownTimeoutMs',
  },
  { flag: '--http', value: (f) => f.http, section: 'service', path: 'http' },
  {
    flag: '--metrics-symbols',
    value: (f) => (f.metricsSymbols === undefined ? undefined : String(f.metricsSymbols)),
    section: 'service',
    path: 'metricsSymbols',
  },
  {
    flag: '--restart-strategy',
    value: (f) => f.restartStrategy,
    section: 'supervisor',
    path: 'strategy',
  },
  {
    flag: '--max-restarts',
    value: (f) => f.maxRestarts,
    section: 'supervisor',
    path: 'maxRestarts',
  },
];

const COLLECTOR_KEYS = [
  'exchange',
  'symbols',
  'dataTypes',
  'endpoint',
  'bookChannel',
  'candleInterval',
  'bookSnapshot',
] as const;
const LIST_KEYS: ReadonlySet<string> = new Set(['symbols', 'dataTypes']);

/** Merges file, environment and flags, validates, applies defaults; throws `ConfigError`. */
export async function loadServiceConfig(options: LoadConfigOptions): Promise<ServiceConfig> {
  const file = nonEmpty(options.file) ?? nonEmpty(options.env[ENV.config]);
  const fromFile = file === undefined ? undefined : await readPrivateConfigFile(file);
  const issues: ConfigIssue[] = [];
  const fromEnv = envOverrides(options.env, issues);
  const fromFlags = flagOverrides(options.flags, issues);
  if (issues.length > 0) throw configError(issues);
  const parsed = validate(merge(fromFile, combine(fromEnv, fromFlags)));
  return file === undefined ? parsed : withPathsFrom(file, parsed);
}

/**
 * The schema's checks and the exchange's, reported together: the exchange's run on what the
 * schema accepted of each collector, even when other fields failed, so one run lists every
 * mistake that can be found.
 */
function validate(input: unknown): ServiceConfig {
  const result = parseConfig(serviceConfigSchema, input, '');
  const collectors = isRecord(input) && Array.isArray(input.collectors) ? input.collectors : [];
  const exchangeIssues = collectors.flatMap((entry: unknown, i) =>
    checkAsFarAsParsed(entry, `collectors.${i}`),
  );
  if (result.success && exchangeIssues.length === 0) return result.data;
  const schemaIssues = result.success ? [] : result.issues;
  throw configError(byCollector([...schemaIssues, ...exchangeIssues]));
}

/** The issues of the service first, then each collector's together, in the order found. */
function byCollector(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const rank = (issue: ConfigIssue) => {
    const match = /^collectors\.(\d+)(?:\.|$)/.exec(issue.field);
    return match === null ? -1 : Number(match[1]);
  };
  // The sort is stable: within a collector, the schema's issues in its order, then the exchange's.
  return [...issues].sort((a, b) => rank(a) - rank(b));
}

/**
 * A config file that holds a secret is itself a secrets file: refused unless only its owner can
 * read it. Checked on the raw file, before the schema, so a secret in the wrong place (a `token`
 * the schema does not know) is covered too.
 */
async function readPrivateConfigFile(file: string): Promise<unknown> {
  const content = await readConfigFile(file);
  const secrets = findSecretFields(content);
  if (secrets.length > 0) {
    await checkPrivateFile(file, { kind: 'config file', because: secrets.join(', ') });
  }
  return content;
}

function envOverrides(env: LoadConfigOptions['env'], issues: ConfigIssue[]): Overrides {
  const overrides = emptyOverrides();
  const read = (name: string) => nonEmpty(env[name]);
  for (const key of COLLECTOR_KEYS) putCollector(overrides.collector, key, read(ENV[key]));
  for (const section of ['service', 'supervisor', 'timers'] as const) {
    for (const setting of SETTINGS[section]) {
      put(overrides[section], setting, read(setting.env), setting.env, issues);
    }
  }
  const known = new Set([...SUPERVISOR_SETTINGS, ...TIMER_SETTINGS].map((s) => s.env));
  for (const name of Object.keys(env)) {
    const section = name.startsWith(ENV_PREFIX.timers)
      ? 'timers'
      : name.startsWith(ENV_PREFIX.supervisor)
        ? 'supervisor'
        : undefined;
    if (section === undefined || known.has(name) || read(name) === undefined) continue;
    // The variable's name, not its value: an unknown variable may hold anything.
    const expected = `a known variable: ${SETTINGS[section].map((s) => s.env).join(', ')}`;
    issues.push({ field: 'environment', received: name, expected });
  }
  return overrides;
}

function flagOverrides(flags: ConfigFlags, issues: ConfigIssue[]): Overrides {
  const overrides = emptyOverrides();
  for (const key of COLLECTOR_KEYS) putCollector(overrides.collector, key, nonEmpty(flags[key]));
  for (const text of flags.timer ?? []) {
    assign(overrides.timers, TIMER_SETTINGS, text, '--timer', issues);
  }
  for (const text of flags.supervisor ?? []) {
    assign(overrides.supervisor, SUPERVISOR_SETTINGS, text, '--supervisor', issues);
  }
  for (const { flag, value, section, path } of NAMED_FLAGS) {
    const setting = SETTINGS[section].find((s) => s.path === path);
    if (setting !== undefined)
      put(overrides[section], setting, nonEmpty(value(flags)), flag, issues);
  }
  return overrides;
}

/** `--timer pingIntervalMs=15000`, `--supervisor health.intervalMs=2000`. */
function assign(
  target: Tree,
  settings: readonly Setting[],
  text: string,
  flag: string,
  issues: ConfigIssue[],
): void {
  const at = text.indexOf('=');
  const path = text.slice(0, Math.max(at, 0)).trim();
  const setting = settings.find((s) => s.path === path);
  const value = nonEmpty(text.slice(at + 1).trim());
  if (at < 0 || setting === undefined || value === undefined) {
    const expected = `PATH=VALUE with PATH one of ${settings.map((s) => s.path).join(', ')}`;
    issues.push({ field: flag, received: text, expected });
    return;
  }
  put(target, setting, value, flag, issues);
}

const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
]);

/** Sets a setting's dotted path in `target`; a number setting must be given a number. */
function put(
  target: Tree,
  setting: Setting,
  text: string | undefined,
  source: string,
  issues: ConfigIssue[],
): void {
  if (text === undefined) return;
  let value: string | number | boolean = text.trim();
  if (setting.kind === 'number') {
    value = Number(value);
    if (!Number.isFinite(value)) {
      issues.push({ field: source, received: text, expected: `a number (${setting.path})` });
      return;
    }
  }
  if (setting.kind === 'boolean') {
    const flag = BOOLEAN_WORDS.get(text.trim().toLowerCase());
    if (flag === undefined) {
      issues.push({ field: source, received: text, expected: `true or false (${setting.path})` });
      return;
    }
    value = flag;
  }
  const keys = setting.path.split('.');
  const last = keys.pop() ?? setting.path;
  let node = target;
  for (const key of keys) {
    const child = node[key];
    const next: Tree = isRecord(child) ? child : {};
    node[key] = next;
    node = next;
  }
  node[last] = value;
}

function putCollector(target: Tree, key: string, text: string | undefined): void {
  if (text !== undefined) target[key] = LIST_KEYS.has(key) ? splitList(text) : text;
}

function emptyOverrides(): Overrides {
  return { collector: {}, service: {}, supervisor: {}, timers: {} };
}

/** Flags over environment, field by field. */
function combine(env: Overrides, flags: Overrides): Overrides {
  return {
    collector: { ...env.collector, ...flags.collector },
    service: { ...env.service, ...flags.service },
    supervisor: deepMerge(env.supervisor, flags.supervisor) as Tree,
    timers: deepMerge(env.timers, flags.timers) as Tree,
  };
}

function merge(fromFile: unknown, overrides: Overrides): unknown {
  const { collector, service, supervisor, timers } = overrides;
  const withService = (root: Tree): Tree =>
    isEmpty(supervisor)
      ? { ...root, ...service }
      : { ...root, ...service, supervisor: deepMerge(root.supervisor, supervisor) };
  const withTimers = (entry: Tree): Tree =>
    isEmpty(timers) ? entry : { ...entry, timers: deepMerge(entry.timers, timers) };
  if (fromFile === undefined) {
    return {
      ...withService({}),
      collectors: [withTimers({ exchange: DEFAULT_EXCHANGE, ...collector })],
    };
  }
  // Anything but an object at the root is left for the schema to report.
  if (!isRecord(fromFile)) return fromFile;
  const list = fromFile.collectors;
  if (collector.symbols !== undefined) {
    const first = Array.isArray(list) && isRecord(list[0]) ? list[0] : {};
    // `symbol` goes too: the schema refuses a collector that has both.
    const { symbol: _symbol, symbols: _symbols, ...rest } = first;
    const single = withTimers({ exchange: DEFAULT_EXCHANGE, ...rest, ...collector });
    return { ...withService(fromFile), collectors: [single] };
  }
  const collectors = Array.isArray(list)
    ? list.map((entry: unknown) =>
        isRecord(entry) ? withTimers({ ...entry, ...collector }) : entry,
      )
    : list;
  return { ...withService(fromFile), collectors };
}

/**
 * `over` laid on `base`, key by key. A `base` that is there but not a mapping stays as it is, so
 * the schema reports the file's mistake instead of an override hiding it.
 */
function deepMerge(base: unknown, over: Tree): unknown {
  if (base !== undefined && !isRecord(base)) return base;
  const merged: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    merged[key] = isRecord(value) ? deepMerge(merged[key], value) : value;
  }
  return merged;
}

/** A relative `credentials.file` in a config file is relative to that file, not to the cwd. */
function withPathsFrom(file: string, config: ServiceConfig): ServiceConfig {
  const base = dirname(file);
  const anchor = <T extends { readonly credentials?: CredentialsConfig | undefined }>(
    item: T,
  ): T => {
    const credentials = item.credentials;
    if (credentials?.file === undefined || isAbsolute(credentials.file)) return item;
    return { ...item, credentials: { ...credentials, file: resolve(base, credentials.file) } };
  };
  return { ...anchor(config), collectors: config.collectors.map(anchor) };
}

/** `pingIntervalMs`, `silenceMs.ticker`, ...: every leaf of a defaults object. */
function settingsOf(
  defaults: object,
  prefix: string,
  named: Readonly<Record<string, string>> = {},
  at: readonly string[] = [],
): Setting[] {
  return Object.entries(defaults).flatMap(([key, value]): Setting[] => {
    const keys = [...at, key];
    if (isRecord(value)) return settingsOf(value, prefix, named, keys);
    const path = keys.join('.');
    const env = named[path] ?? `${prefix}${keys.map(screamingSnake).join('_')}`;
    const kind =
      typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string';
    return [{ path, env, kind }];
  });
}

function screamingSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
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

function isEmpty(tree: Tree): boolean {
  return Object.keys(tree).length === 0;
}

function isRecord(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
