import { z } from 'zod';
import { DATA_TYPES } from '../streams/events.ts';
import { parseConfig } from './issues.ts';
import { CENSOR } from './redact.ts';

/**
 * Configuration schemas. Every default lives in `DEFAULT_TIMERS` and the schemas below, nowhere
 * else. Options carry their unit in their name.
 */

export const DEFAULT_TIMERS = {
  /** Give up on a connection attempt (TCP + TLS + upgrade) after this long. */
  connectTimeoutMs: 10_000,
  /** Send the text `ping` after this long without any inbound frame. OKX closes at 30 s. */
  pingIntervalMs: 20_000,
  /** No `pong` within this long after a ping: the peer is dead. */
  pongTimeoutMs: 5_000,
  /** A subscribe request that is neither acked nor refused within this long is sent again once. */
  subscribeTimeoutMs: 10_000,
  /**
   * Data silence per data type: past it, the connection is recycled (`data-stall`). 0 = off.
   * Trades are off by default: a quiet market is not a dead one.
   */
  silenceMs: { trade: 0, ticker: 60_000, orderbook: 90_000, candle: 0 },
  backoff: {
    initialMs: 500,
    maxMs: 30_000,
    factor: 2,
    /** Fraction of the delay drawn at random, both ways: 0.2 means ±20 %. */
    jitter: 0.2,
    /** The attempt counter resets after a connection has stayed open this long. */
    stableAfterMs: 30_000,
  },
} as const;

/**
 * Supervision: how the manager restarts a collector that crashed or stayed unhealthy, in the
 * manner of an Erlang/OTP supervisor (strategy, at most `maxRestarts` within `withinMs`) with
 * Akka-style backoff between restarts.
 */
export const DEFAULT_SUPERVISION = {
  /** Which collectors restart when one crashes: itself, all, or itself and those added after it. */
  strategy: 'one-for-one',
  maxRestarts: 5,
  withinMs: 60_000,
  backoff: { minMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.2 },
  /** After this long without a crash the restart backoff starts again from `minMs`. */
  resetAfterMs: 120_000,
  health: {
    /** How often the supervisor checks every collector. */
    intervalMs: 5_000,
    /** A running collector whose machine has not reported for this long is stuck. */
    stuckAfterMs: 60_000,
    /** Every subscription failed for this long: unhealthy. */
    allFailedForMs: 60_000,
    /** This many reconnects in a row without any message in between: unhealthy. */
    reconnectsWithoutData: 10,
    /** What an unhealthy collector gets: a restart under the policy, or `failed` at once. */
    action: 'restart',
  },
} as const;

export const RESTART_STRATEGIES = ['one-for-one', 'one-for-all', 'rest-for-one'] as const;

/** Where order book snapshots come from; see `bookSnapshot` below. */
export const BOOK_SNAPSHOT_MODES = ['auto', 'rest'] as const;

/** Node's timers take at most 2^31 - 1 ms and silently fire after 1 ms beyond it. */
const MAX_TIMER_MS = 2_147_483_647;
const ms = z.number().int().nonnegative().max(MAX_TIMER_MS);
const positiveMs = z.number().int().positive().max(MAX_TIMER_MS);

/**
 * When a refinement of a mapping runs: as soon as the fields it reads parsed, whatever else
 * failed. Zod skips a refinement after any failure by default, so its issue would only show once
 * every other one was fixed: one more round of `config validate` for nothing.
 */
function onceParsed(...keys: readonly string[]): z.core.$ZodSuperRefineParams {
  const read: ReadonlySet<PropertyKey> = new Set(keys);
  return {
    when: (payload) =>
      isRecord(payload.value) &&
      payload.issues.every((issue) => issue.path === undefined || !read.has(issue.path[0] ?? '')),
  };
}

/** The same for the check of collector ids: every collector a mapping, no id refused. */
const idsParsed: z.core.$ZodSuperRefineParams = {
  when: (payload) =>
    Array.isArray(payload.value) &&
    payload.value.every(isRecord) &&
    payload.issues.every((issue) => issue.path?.[1] !== 'id'),
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const backoffSchema = z
  .strictObject({
    initialMs: positiveMs.default(DEFAULT_TIMERS.backoff.initialMs),
    maxMs: positiveMs.default(DEFAULT_TIMERS.backoff.maxMs),
    factor: z.number().min(1).max(10).default(DEFAULT_TIMERS.backoff.factor),
    jitter: z.number().min(0).max(1).default(DEFAULT_TIMERS.backoff.jitter),
    stableAfterMs: ms.default(DEFAULT_TIMERS.backoff.stableAfterMs),
  })
  .superRefine(
    (value, ctx) => {
      if (value.initialMs > value.maxMs) {
        ctx.addIssue({
          code: 'custom',
          message: 'initialMs not above maxMs',
          path: ['initialMs'],
          input: value.initialMs,
        });
      }
    },
    onceParsed('initialMs', 'maxMs'),
  );

export const silenceSchema = z.strictObject({
  trade: ms.default(DEFAULT_TIMERS.silenceMs.trade),
  ticker: ms.default(DEFAULT_TIMERS.silenceMs.ticker),
  orderbook: ms.default(DEFAULT_TIMERS.silenceMs.orderbook),
  candle: ms.default(DEFAULT_TIMERS.silenceMs.candle),
});

export const timersSchema = z.strictObject({
  connectTimeoutMs: positiveMs.default(DEFAULT_TIMERS.connectTimeoutMs),
  pingIntervalMs: positiveMs.default(DEFAULT_TIMERS.pingIntervalMs),
  pongTimeoutMs: positiveMs.default(DEFAULT_TIMERS.pongTimeoutMs),
  subscribeTimeoutMs: positiveMs.default(DEFAULT_TIMERS.subscribeTimeoutMs),
  silenceMs: silenceSchema.prefault({}),
  backoff: backoffSchema.prefault({}),
});

export const healthSchema = z.strictObject({
  intervalMs: positiveMs.default(DEFAULT_SUPERVISION.health.intervalMs),
  stuckAfterMs: positiveMs.default(DEFAULT_SUPERVISION.health.stuckAfterMs),
  allFailedForMs: ms.default(DEFAULT_SUPERVISION.health.allFailedForMs),
  reconnectsWithoutData: z
    .number()
    .int()
    .positive()
    .default(DEFAULT_SUPERVISION.health.reconnectsWithoutData),
  action: z.enum(['restart', 'fail']).default(DEFAULT_SUPERVISION.health.action),
});

const factorSchema = z.number().min(1).max(10);
const jitterSchema = z.number().min(0).max(1);

/** A delay range must not be upside down: every delay would silently be the cap. */
function minNotAboveMax(
  value: { minMs?: number | undefined; maxMs?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  if (value.minMs !== undefined && value.maxMs !== undefined && value.minMs > value.maxMs) {
    ctx.addIssue({
      code: 'custom',
      message: 'minMs not above maxMs',
      path: ['minMs'],
      input: value.minMs,
    });
  }
}

export const restartBackoffSchema = z
  .strictObject({
    minMs: ms.default(DEFAULT_SUPERVISION.backoff.minMs),
    maxMs: positiveMs.default(DEFAULT_SUPERVISION.backoff.maxMs),
    factor: factorSchema.default(DEFAULT_SUPERVISION.backoff.factor),
    jitter: jitterSchema.default(DEFAULT_SUPERVISION.backoff.jitter),
  })
  .superRefine(minNotAboveMax, onceParsed('minMs', 'maxMs'));

/** The same fields without defaults: an override names only what it changes. */
const restartBackoffOverrideSchema = z
  .strictObject({
    minMs: ms.optional(),
    maxMs: positiveMs.optional(),
    factor: factorSchema.optional(),
    jitter: jitterSchema.optional(),
  })
  .superRefine(minNotAboveMax, onceParsed('minMs', 'maxMs'));

/** The restart policy of a manager. */
export const supervisionSchema = z.strictObject({
  strategy: z.enum(RESTART_STRATEGIES).default(DEFAULT_SUPERVISION.strategy),
  maxRestarts: z.number().int().nonnegative().default(DEFAULT_SUPERVISION.maxRestarts),
  withinMs: positiveMs.default(DEFAULT_SUPERVISION.withinMs),
  backoff: restartBackoffSchema.prefault({}),
  resetAfterMs: ms.default(DEFAULT_SUPERVISION.resetAfterMs),
  health: healthSchema.prefault({}),
});

/** A collector's override of the manager's policy: any field, no defaults of its own. */
export const restartOverrideSchema = z.strictObject({
  strategy: z.enum(RESTART_STRATEGIES).optional(),
  maxRestarts: z.number().int().nonnegative().optional(),
  withinMs: positiveMs.optional(),
  backoff: restartBackoffOverrideSchema.optional(),
  resetAfterMs: ms.optional(),
});

/** The secrets a private channel may need; OKX signs with all three. */
export const SECRET_NAMES = ['apiKey', 'secretKey', 'passphrase'] as const;

const envNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable (letters, digits, _)');
// Not coerced from a number: YAML reads `passphrase: 012345` as 5349, and the secret would be lost.
const secretSchema = z
  .string({ error: 'a string (quote the value in YAML)' })
  .min(1, 'a non-empty string');

/**
 * Where the credentials of private channels come from. Normally names, never the secrets: the
 * environment variables that hold them (`apiKeyEnv`, ...) or a secrets file (`file`, a JSON or
 * YAML mapping of `apiKey`, `secretKey`, `passphrase`, readable by its owner only). A literal
 * `apiKey`, `secretKey` or `passphrase` is accepted only in a config file that only its owner can
 * read: such a file is a secrets file itself (see `checkPrivateFile`). Per secret, the variable
 * wins over the secrets file, which wins over a literal; a literal and a variable for the same
 * secret are refused as ambiguous.
 */
export const credentialsSchema = z
  .strictObject({
    apiKeyEnv: envNameSchema.optional(),
    secretKeyEnv: envNameSchema.optional(),
    passphraseEnv: envNameSchema.optional(),
    file: z.string().trim().min(1, 'a path to a .json, .yaml or .yml secrets file').optional(),
    apiKey: secretSchema.optional(),
    secretKey: secretSchema.optional(),
    passphrase: secretSchema.optional(),
  })
  .superRefine(
    (value, ctx) => {
      for (const name of SECRET_NAMES) {
        const envKey = `${name}Env` as const;
        if (value[name] === undefined || value[envKey] === undefined) continue;
        // The variable's name is the input: the literal is a secret and must not be quoted back.
        ctx.addIssue({
          code: 'custom',
          message: `${name} or ${envKey}, not both`,
          path: [envKey],
          input: value[envKey],
        });
      }
    },
    onceParsed(...SECRET_NAMES, ...SECRET_NAMES.map((name) => `${name}Env`)),
  );

/** A secrets file named by `credentials.file`: the secrets themselves, nothing else. */
export const secretsFileSchema = z.strictObject({
  apiKey: secretSchema.optional(),
  secretKey: secretSchema.optional(),
  passphrase: secretSchema.optional(),
});

const symbolSchema = z.string().trim().min(1, 'a non-empty instrument id');

export const collectorConfigSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits and _ . : - (at most 64)')
      .optional(),
    exchange: z.string().trim().toLowerCase().min(1),
    symbol: symbolSchema.optional(),
    symbols: z.array(symbolSchema).min(1).optional(),
    dataTypes: z.array(z.enum(DATA_TYPES)).min(1).default(['trade', 'ticker']),
    /** The depth channel for `orderbook` (OKX: books, books5, bbo-tbt); else the adapter's. */
    bookChannel: z.string().min(1).optional(),
    /** The interval for `candle` (OKX: 1s, 1m, 5m, 1H, 1D, …); the adapter's default if unset. */
    candleInterval: z.string().min(1).optional(),
    autoRestart: z.boolean().default(true),
    /** Fetch trades missed during a disconnect over REST (where the exchange serves them). */
    backfill: z.boolean().default(true),
    /**
     * Order book snapshots: `auto` takes the pushed snapshot and falls back to REST when a
     * channel sends updates without one (OKX announced it will); `rest` always bootstraps from
     * REST and ignores pushed snapshots.
     */
    bookSnapshot: z.enum(BOOK_SNAPSHOT_MODES).default('auto'),
    /** Overrides of the manager's restart policy for this collector. */
    restart: restartOverrideSchema.optional(),
    enabled: z.boolean().default(true),
    endpoint: z
      .string()
      .regex(/^wss?:\/\/[^\s]+$/, 'a ws:// or wss:// URL')
      .optional(),
    timers: timersSchema.prefault({}),
    /** Credentials for private channels; the service's `credentials` when absent. */
    credentials: credentialsSchema.optional(),
  })
  .superRefine(
    (value, ctx) => {
      // `input` names the field's own value: without it the issue would quote the whole collector.
      if (value.symbol === undefined && value.symbols === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'symbol or symbols is required',
          path: ['symbols'],
          input: undefined,
        });
      }
      if (value.symbol !== undefined && value.symbols !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: 'give symbol or symbols, not both',
          path: ['symbol'],
          input: value.symbol,
        });
      }
      // The collector subscribes once per symbol and data type anyway: a repeat is a slip (a
      // symbol meant to be another one), and the summary of `config validate` would echo it.
      // Checked apart from the data types, so either is reported while the other is refused.
      for (const [i, symbol] of repeats(value.symbols ?? [])) {
        ctx.addIssue({
          code: 'custom',
          message: 'a symbol not listed before',
          path: ['symbols', i],
          input: symbol,
        });
      }
    },
    onceParsed('symbol', 'symbols'),
  )
  .superRefine((value, ctx) => {
    for (const [i, dataType] of repeats(value.dataTypes)) {
      ctx.addIssue({
        code: 'custom',
        message: 'a data type not listed before',
        path: ['dataTypes', i],
        input: dataType,
      });
    }
  }, onceParsed('dataTypes'));

/** The items of a list that an earlier item already named, with their indexes. */
function repeats<T>(items: readonly T[]): [number, T][] {
  return items.flatMap((item, i): [number, T][] => (items.indexOf(item) < i ? [[i, item]] : []));
}

/** The exchange of the one collector that flags or environment describe when no file is given. */
export const DEFAULT_EXCHANGE = 'okx';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How long a stop (SIGTERM, SIGINT) may take before the service gives up and exits 1. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5_000;

/** Where the HTTP admin listener (health, status, metrics) binds: 9464 is the OpenMetrics port. */
export const DEFAULT_HTTP = '127.0.0.1:9464';

/** The `http` setting that turns the admin listener off. */
export const HTTP_OFF = 'off';

export interface ListenAddress {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** A host name, an IPv4 address, or an IPv6 address in brackets; then a port. */
const LISTEN_PATTERN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** `127.0.0.1:9464`, `[::1]:9464`, `localhost:0`; undefined for `off` or anything malformed. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = LISTEN_PATTERN.exec(text.trim());
  if (match === null) return undefined;
  const port = Number(match[3]);
  const host = match[1] ?? match[2];
  return host === undefined || port > 65_535 ? undefined : { host, port };
}

const httpSchema = z
  .string()
  .trim()
  .refine(
    (value) => value === HTTP_OFF || parseListenAddress(value) !== undefined,
    `HOST:PORT (e.g. ${DEFAULT_HTTP}, [::1]:9464, port 0 for any free one) or ${HTTP_OFF}`,
  );

export const serviceConfigSchema = z.strictObject({
  logLevel: z.enum(LOG_LEVELS).default('info'),
  shutdownTimeoutMs: positiveMs.default(DEFAULT_SHUTDOWN_TIMEOUT_MS),
  /** The admin listener's `HOST:PORT`, or `off`. */
  http: httpSchema.default(DEFAULT_HTTP),
  /** Adds a `symbol` label to the metrics that have one; off, as it multiplies the series. */
  metricsSymbols: z.boolean().default(false),
  supervisor: supervisionSchema.prefault({}),
  /** Credentials of every collector that names none of its own. */
  credentials: credentialsSchema.optional(),
  collectors: z
    .array(collectorConfigSchema)
    .min(1)
    .superRefine((collectors, ctx) => {
      // `run` would refuse the second one; `config validate` must say so first.
      const seen = new Set<string>();
      collectors.forEach((collector, i) => {
        if (collector.id === undefined) return;
        if (seen.has(collector.id)) {
          ctx.addIssue({
            code: 'custom',
            message: 'an id no other collector uses',
            path: [i, 'id'],
            input: collector.id,
          });
        }
        seen.add(collector.id);
      });
    }, idsParsed),
});

/** A collector config as a user writes it (defaults optional). */
export type CollectorConfigInput = z.input<typeof collectorConfigSchema>;
/** A collector config with every default applied. */
export type CollectorConfig = z.output<typeof collectorConfigSchema>;
export type TimersConfig = z.output<typeof timersSchema>;
export type BackoffConfig = z.output<typeof backoffSchema>;
export type ServiceConfigInput = z.input<typeof serviceConfigSchema>;
export type ServiceConfig = z.output<typeof serviceConfigSchema>;
export type CredentialsConfig = z.output<typeof credentialsSchema>;
export type SecretName = (typeof SECRET_NAMES)[number];
export type SecretsFile = z.output<typeof secretsFileSchema>;
export type SupervisionConfig = z.output<typeof supervisionSchema>;
export type SupervisionConfigInput = z.input<typeof supervisionSchema>;
export type RestartOverride = z.output<typeof restartOverrideSchema>;
export type RestartStrategy = (typeof RESTART_STRATEGIES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The codes of a `ConfigError`:
 * - `config-invalid`: a value is missing, malformed or out of range;
 * - `config-file-exposed`: a file holding secrets can be read (or written) by group or others.
 */
export type ConfigErrorCode = 'config-invalid' | 'config-file-exposed';

/** A config value was invalid: each issue names the field, the value and what was expected. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[],
    readonly code: ConfigErrorCode = 'config-invalid',
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface ConfigIssue {
  /** Dotted path of the field, e.g. `collectors.0.timers.pingIntervalMs`. */
  readonly field: string;
  readonly received: unknown;
  readonly expected: string;
}

function describeReceived(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The parsed value, or a `ConfigError` naming every issue. */
function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix: string): z.output<S> {
  const result = parseConfig(schema, input, prefix);
  if (!result.success) throw configError(result.issues);
  return result.data;
}

/** A `ConfigError` whose message lists every issue, one line each, for checks beyond the schema. */
export function configError(issues: readonly ConfigIssue[]): ConfigError {
  const lines = issues.map(
    (i) => `${i.field}: got ${describeReceived(i.received)}, expected ${i.expected}`,
  );
  return new ConfigError(`invalid configuration\n  ${lines.join('\n  ')}`, issues);
}

/** Validates a collector config and applies defaults; throws `ConfigError`. */
export function parseCollectorConfig(input: unknown, fieldPrefix = ''): CollectorConfig {
  return parseOrThrow(collectorConfigSchema, input, fieldPrefix);
}

/** Validates a supervision policy and applies defaults; throws `ConfigError`. */
export function parseSupervision(input: unknown, fieldPrefix = 'supervisor'): SupervisionConfig {
  return parseOrThrow(supervisionSchema, input ?? {}, fieldPrefix);
}

/** Validates a service config and applies defaults; throws `ConfigError`. */
export function parseServiceConfig(input: unknown): ServiceConfig {
  return parseOrThrow(serviceConfigSchema, input, '');
}

/** Validates the content of a secrets file; throws `ConfigError` naming fields, never values. */
export function parseSecretsFile(input: unknown, fieldPrefix: string): SecretsFile {
  const result = parseConfig(secretsFileSchema, input, fieldPrefix);
  if (result.success) return result.data;
  // Whatever the file holds may be a secret, wherever it sits, its keys too: nothing is quoted.
  throw configError(result.issues.map((issue) => ({ ...issue, received: CENSOR })));
}

/** The symbols of a collector config, whichever of `symbol` and `symbols` was given. */
export function symbolsOf(config: Pick<CollectorConfig, 'symbol' | 'symbols'>): string[] {
  return config.symbols ?? (config.symbol === undefined ? [] : [config.symbol]);
}
