import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENV,
  ENV_PREFIX,
  loadServiceConfig,
  SUPERVISOR_SETTINGS,
  TIMER_SETTINGS,
} from '../../src/config/load.ts';
import {
  ConfigError,
  DEFAULT_EXCHANGE,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_SUPERVISION,
  DEFAULT_TIMERS,
} from '../../src/config/schema.ts';
import { getExchange, supportedExchanges } from '../../src/exchanges/registry.ts';
import { DATA_TYPES } from '../../src/streams/events.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'market-collector-config-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The ConfigError a load throws; fails the test if it resolves or throws something else. */
async function configErrorOf(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

const YAML_TWO_COLLECTORS = `
logLevel: warn
collectors:
  - id: spot
    exchange: okx
    symbols: [BTC-USDT, ETH-USDT]
    dataTypes: [trade]
    endpoint: wss://wseea.okx.com:8443/ws/v5
    timers:
      pingIntervalMs: 15000
  - id: swap
    exchange: okx
    symbol: BTC-USDT-SWAP
`;

describe('loadServiceConfig: sources', () => {
  it('reads a YAML file and applies the schema defaults', async () => {
    const path = await file('two.yaml', YAML_TWO_COLLECTORS);
    const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
    expect(config.logLevel).toBe('warn');
    expect(config.collectors.map((c) => c.id)).toEqual(['spot', 'swap']);
    expect(config.collectors[0]?.timers.pingIntervalMs).toBe(15_000);
    expect(config.collectors[1]?.dataTypes).toEqual(['trade', 'ticker']);
  });

  it('reads a JSON file, and a .yml one', async () => {
    const body = { collectors: [{ exchange: 'okx', symbols: ['BTC-USDT'] }] };
    const json = await file('one.json', JSON.stringify(body));
    const yml = await file('one.yml', 'collectors:\n  - { exchange: okx, symbols: [BTC-USDT] }\n');
    for (const path of [json, yml]) {
      const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
      expect(config.collectors[0]?.symbols).toEqual(['BTC-USDT']);
      expect(config.logLevel).toBe('info');
    }
  });

  it('takes the file from MARKET_COLLECTOR_CONFIG, and --config over it', async () => {
    const envFile = await file(
      'env.yaml',
      'logLevel: debug\ncollectors: [{exchange: okx, symbol: A-B}]',
    );
    const flagFile = await file(
      'flag.yaml',
      'logLevel: error\ncollectors: [{exchange: okx, symbol: A-B}]',
    );
    const env = { [ENV.config]: envFile };
    expect((await loadServiceConfig({ env, flags: {} })).logLevel).toBe('debug');
    expect((await loadServiceConfig({ file: flagFile, env, flags: {} })).logLevel).toBe('error');
  });

  it('lets the environment override the file and flags override both', async () => {
    const path = await file('precedence.yaml', YAML_TWO_COLLECTORS);
    const env = { [ENV.logLevel]: 'debug', [ENV.endpoint]: 'ws://127.0.0.1:1/ws/v5' };
    const fromEnv = await loadServiceConfig({ file: path, env, flags: {} });
    expect(fromEnv.logLevel).toBe('debug');
    expect(fromEnv.collectors.map((c) => c.endpoint)).toEqual([
      'ws://127.0.0.1:1/ws/v5',
      'ws://127.0.0.1:1/ws/v5',
    ]);
    const flags = { logLevel: 'trace', endpoint: 'ws://127.0.0.1:2/ws/v5' };
    const fromFlags = await loadServiceConfig({ file: path, env, flags });
    expect(fromFlags.logLevel).toBe('trace');
    expect(fromFlags.collectors.map((c) => c.endpoint)).toEqual([
      'ws://127.0.0.1:2/ws/v5',
      'ws://127.0.0.1:2/ws/v5',
    ]);
  });

  it('without a file, describes one collector from environment and flags', async () => {
    const env = { [ENV.symbols]: 'ETH-USDT', [ENV.dataTypes]: 'ticker' };
    const config = await loadServiceConfig({ env, flags: { symbols: 'BTC-USDT, BTC-USDT-SWAP' } });
    expect(config.collectors).toHaveLength(1);
    const [collector] = config.collectors;
    expect(collector?.exchange).toBe(DEFAULT_EXCHANGE);
    expect(collector?.symbols).toEqual(['BTC-USDT', 'BTC-USDT-SWAP']);
    expect(collector?.dataTypes).toEqual(['ticker']);
  });

  it('treats an empty variable or flag as unset', async () => {
    const env = { [ENV.symbols]: 'BTC-USDT', [ENV.logLevel]: '' };
    const config = await loadServiceConfig({ env, flags: { exchange: '' } });
    expect(config.logLevel).toBe('info');
    expect(config.collectors[0]?.exchange).toBe(DEFAULT_EXCHANGE);
  });

  it('with a file, naming symbols leaves one collector, built on the first', async () => {
    const path = await file('narrow.yaml', YAML_TWO_COLLECTORS);
    const config = await loadServiceConfig({ file: path, env: {}, flags: { symbols: 'SOL-USDT' } });
    expect(config.logLevel).toBe('warn');
    expect(config.collectors).toHaveLength(1);
    const [collector] = config.collectors;
    expect(collector?.id).toBe('spot');
    expect(collector?.symbols).toEqual(['SOL-USDT']);
    expect(collector?.symbol).toBeUndefined();
    expect(collector?.dataTypes).toEqual(['trade']);
    expect(collector?.endpoint).toBe('wss://wseea.okx.com:8443/ws/v5');
    expect(collector?.timers.pingIntervalMs).toBe(15_000);
  });

  it('with a file, a data-types flag alone applies to every collector', async () => {
    const path = await file('types.yaml', YAML_TWO_COLLECTORS);
    const config = await loadServiceConfig({ file: path, env: {}, flags: { dataTypes: 'ticker' } });
    expect(config.collectors.map((c) => c.dataTypes)).toEqual([['ticker'], ['ticker']]);
    expect(config.collectors.map((c) => c.id)).toEqual(['spot', 'swap']);
  });
});

describe('loadServiceConfig: channel options', () => {
  it('takes the depth channel, candle bar and snapshot mode from the environment, flags over it', async () => {
    const env = {
      [ENV.symbols]: 'BTC-USDT',
      [ENV.dataTypes]: 'orderbook,candle',
      [ENV.bookChannel]: 'bbo-tbt',
      [ENV.candleInterval]: '1D',
      [ENV.bookSnapshot]: 'rest',
    };
    const fromEnv = await loadServiceConfig({ env, flags: {} });
    expect(fromEnv.collectors[0]).toMatchObject({
      bookChannel: 'bbo-tbt',
      candleInterval: '1D',
      bookSnapshot: 'rest',
    });
    const flags = { bookChannel: 'books5', candleInterval: '1Dutc', bookSnapshot: 'auto' };
    const fromFlags = await loadServiceConfig({ env, flags });
    expect(fromFlags.collectors[0]).toMatchObject(flags);
  });

  it('with a file, a depth channel flag alone applies to every collector', async () => {
    const path = await file('depth.yaml', YAML_TWO_COLLECTORS);
    const flags = { bookChannel: 'books5' };
    const config = await loadServiceConfig({ file: path, env: {}, flags });
    expect(config.collectors.map((c) => c.bookChannel)).toEqual(['books5', 'books5']);
  });

  it('refuses what the adapter does not serve, naming the field, the value once and the choices', async () => {
    const env = { [ENV.bookChannel]: 'books50' };
    const flags = { symbols: 'BTC-USDT', dataTypes: 'orderbook,candle', candleInterval: '7m' };
    const error = await configErrorOf(loadServiceConfig({ env, flags }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.bookChannel', 'books50'],
      ['collectors.0.candleInterval', '7m'],
    ]);
    expect(error.issues[0]?.expected).toBe(
      'one of the depth channels that need no login: books, books5, bbo-tbt',
    );
    expect(error.issues[1]?.expected).toMatch(/^one of the candle bars: 1s, 1m, .*, 1H,/);
    expect(error.message.match(/"7m"/g)).toHaveLength(1);
  });

  it('refuses a wrong option even while its data type is not collected', async () => {
    const path = await file(
      'unused-option.yaml',
      'collectors:\n  - { exchange: okx, symbol: BTC-USDT, dataTypes: [trade], candleInterval: 1h }\n',
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.candleInterval', '1h'],
    ]);
  });
});

describe('loadServiceConfig: refusals', () => {
  it('names the field, the value and the expectation of an invalid value', async () => {
    const error = await configErrorOf(
      loadServiceConfig({ env: {}, flags: { symbols: 'BTC-USDT', dataTypes: 'trade,foo' } }),
    );
    expect(error.code).toBe('config-invalid');
    expect(error.issues).toHaveLength(1);
    const [issue] = error.issues;
    expect(issue?.field).toBe('collectors.0.dataTypes.1');
    expect(issue?.received).toBe('foo');
    for (const dataType of DATA_TYPES) expect(issue?.expected).toContain(dataType);
    expect(error.message).toContain('collectors.0.dataTypes.1');
    expect(error.message).toContain('"foo"');
  });

  it('refuses an unknown log level from the environment', async () => {
    const env = { [ENV.logLevel]: 'loud', [ENV.symbols]: 'BTC-USDT' };
    const error = await configErrorOf(loadServiceConfig({ env, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([['logLevel', 'loud']]);
  });

  it('refuses a collector without symbols', async () => {
    const error = await configErrorOf(loadServiceConfig({ env: {}, flags: {} }));
    expect(error.issues.map((i) => i.field)).toEqual(['collectors.0.symbols']);
    expect(error.issues[0]?.received).toBeUndefined();
  });

  it('lists the supported exchanges when the exchange is unknown', async () => {
    const flags = { exchange: 'Kraken', symbols: 'XBT/USD' };
    const error = await configErrorOf(loadServiceConfig({ env: {}, flags }));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.field).toBe('collectors.0.exchange');
    expect(error.issues[0]?.received).toBe('kraken');
    for (const id of supportedExchanges()) {
      expect(error.issues[0]?.expected).toContain(id);
      expect(error.message).toContain(id);
    }
  });

  it("refuses a symbol the exchange's adapter calls invalid, by index", async () => {
    const bad = 'btc_usdt';
    expect(getExchange('okx').validateSymbol(bad)).toBeTypeOf('string');
    const flags = { symbols: `BTC-USDT,${bad}` };
    const error = await configErrorOf(loadServiceConfig({ env: {}, flags }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.symbols.1', bad],
    ]);
  });

  const unsupported = DATA_TYPES.find((t) => !getExchange('okx').dataTypes.includes(t));
  it.skipIf(unsupported === undefined)(
    'refuses a data type the exchange does not support yet',
    async () => {
      const flags = { symbols: 'BTC-USDT', dataTypes: String(unsupported) };
      const error = await configErrorOf(loadServiceConfig({ env: {}, flags }));
      expect(error.issues.map((i) => [i.field, i.received])).toEqual([
        ['collectors.0.dataTypes.0', unsupported],
      ]);
    },
  );

  it('names a missing file', async () => {
    const path = join(dir, 'missing.yaml');
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.message).toContain(path);
    expect(error.message).toContain('ENOENT');
    expect(error.issues[0]?.field).toBe('config');
  });

  it('names a file that does not parse, YAML or JSON', async () => {
    const yaml = await file('broken.yaml', 'collectors:\n  - exchange: okx\n   symbols: [\n');
    const json = await file('broken.json', '{"collectors": [');
    for (const path of [yaml, json]) {
      const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
      expect(error.message).toContain(path);
      expect(error.issues[0]?.received).toBe(path);
    }
  });

  it('refuses a file with an unknown extension', async () => {
    const path = await file('config.toml', 'logLevel = "info"');
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.message).toContain(path);
  });

  it('reports a file whose root is not a mapping through the schema', async () => {
    const path = await file('list.yaml', '- exchange: okx\n');
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues[0]?.field).toBe('(root)');
  });
});

describe('loadServiceConfig: every issue in one run', () => {
  it("reports the exchange's issues with the schema's, not after them", async () => {
    const path = await file(
      'four-mistakes.yaml',
      `collectors:
  - exchange: okx
    symbols: [BTC-USDT]
    dataTypes: [orderbook, candle]
    bookSnapshot: REST
    backfil: false
    bookChannel: books400
    candleInterval: 2m
`,
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.bookSnapshot', 'REST'],
      ['collectors.0', 'backfil'],
      ['collectors.0.bookChannel', 'books400'],
      ['collectors.0.candleInterval', '2m'],
    ]);
  });

  it('asks the exchange about each collector whose exchange, symbols and data types parsed', async () => {
    const path = await file(
      'many-mistakes.yaml',
      `logLevel: loud
collectors:
  - { exchange: okx, symbols: [BTC-USDT], dataTypes: [trade, trades], bookChannel: books400 }
  - { exchange: okx, symbols: [btc_usdt], bookSnapshot: push, candleInterval: 2m }
  - { exchange: okx, symbol: BTC-USDT, timers: { pingIntervalMs: -1 }, bookChannel: '' }
`,
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    // The first collector's data types are refused: what it collects, hence which channels its
    // options pick, is not known. An option the schema refuses is not asked about either.
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['logLevel', 'loud'],
      ['collectors.0.dataTypes.1', 'trades'],
      ['collectors.1.bookSnapshot', 'push'],
      ['collectors.1.symbols.0', 'btc_usdt'],
      ['collectors.1.candleInterval', '2m'],
      ['collectors.2.bookChannel', ''],
      ['collectors.2.timers.pingIntervalMs', -1],
    ]);
  });

  it('reports the checks across fields while another field is refused', async () => {
    const path = await file(
      'cross-field.yaml',
      `collectors:
  - { id: a, exchange: okx, symbol: A-B, symbols: [A-B], bookSnapshot: REST }
  - id: a
    exchange: okx
    symbol: A-B
    timers: { backoff: { initialMs: 9000, maxMs: 1000, factor: 0 } }
`,
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.expected])).toEqual([
      ['collectors.0.bookSnapshot', 'one of auto, rest'],
      ['collectors.0.symbol', 'give symbol or symbols, not both'],
      ['collectors.1.timers.backoff.factor', 'a number of at least 1'],
      ['collectors.1.timers.backoff.initialMs', 'initialMs not above maxMs'],
      ['collectors.1.id', 'an id no other collector uses'],
    ]);
  });
});

describe('loadServiceConfig: repeats', () => {
  it('refuses a symbol or a data type listed twice, naming the repeat', async () => {
    const path = await file(
      'repeats.yaml',
      'collectors:\n  - { exchange: okx, symbols: [BTC-USDT, BTC-USDT], dataTypes: [orderbook, orderbook] }\n',
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues).toEqual([
      {
        field: 'collectors.0.symbols.1',
        received: 'BTC-USDT',
        expected: 'a symbol not listed before',
      },
      {
        field: 'collectors.0.dataTypes.1',
        received: 'orderbook',
        expected: 'a data type not listed before',
      },
    ]);
    expect(error.message).toContain(
      'collectors.0.symbols.1: got "BTC-USDT", expected a symbol not listed before',
    );
  });

  it('refuses repeats from flags and the environment, spaces aside', async () => {
    for (const { env, flags } of [
      { env: {}, flags: { symbols: 'BTC-USDT, ETH-USDT ,BTC-USDT' } },
      { env: { [ENV.symbols]: 'BTC-USDT,ETH-USDT,BTC-USDT' }, flags: {} },
    ]) {
      const error = await configErrorOf(loadServiceConfig({ env, flags }));
      expect(error.issues.map((i) => [i.field, i.received])).toEqual([
        ['collectors.0.symbols.2', 'BTC-USDT'],
      ]);
    }
    const flags = { symbols: 'BTC-USDT', dataTypes: 'trade,ticker,trade' };
    const error = await configErrorOf(loadServiceConfig({ env: {}, flags }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.dataTypes.2', 'trade'],
    ]);
  });

  it("keeps the file's indexes for the exchange's issues when a symbol is repeated", async () => {
    const path = await file(
      'repeat-and-typo.yaml',
      'collectors:\n  - { exchange: okx, symbols: [BTC-USDT, BTC-USDT, btc_usdt], bookChannel: books400 }\n',
    );
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0.symbols.1', 'BTC-USDT'],
      ['collectors.0.symbols.2', 'btc_usdt'],
      ['collectors.0.bookChannel', 'books400'],
    ]);
  });

  it('lets two collectors collect the same symbol', async () => {
    const path = await file(
      'same-symbol.yaml',
      'collectors:\n  - { exchange: okx, symbol: BTC-USDT }\n  - { exchange: okx, symbol: BTC-USDT }\n',
    );
    const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
    expect(config.collectors).toHaveLength(2);
  });
});

describe('loadServiceConfig: supervisor, timers and shutdown', () => {
  it('reads the supervisor section of a file, with defaults for the rest', async () => {
    const path = await file(
      'supervisor.yaml',
      'supervisor:\n  strategy: one-for-all\n  health: { intervalMs: 2000 }\n' +
        'collectors: [{ exchange: okx, symbol: BTC-USDT }]\n',
    );
    const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
    expect(config.supervisor.strategy).toBe('one-for-all');
    expect(config.supervisor.health.intervalMs).toBe(2_000);
    expect(config.supervisor.maxRestarts).toBe(DEFAULT_SUPERVISION.maxRestarts);
    expect(config.shutdownTimeoutMs).toBe(DEFAULT_SHUTDOWN_TIMEOUT_MS);
  });

  it('takes the restart policy from the environment, and flags over it', async () => {
    const path = await file(
      'policy.yaml',
      'supervisor: { strategy: rest-for-one, maxRestarts: 9, withinMs: 1000 }\n' +
        'collectors: [{ exchange: okx, symbol: BTC-USDT }]\n',
    );
    const env = {
      [ENV.restartStrategy]: 'one-for-all',
      [ENV.maxRestarts]: '3',
      [`${ENV_PREFIX.supervisor}HEALTH_INTERVAL_MS`]: '2500',
    };
    const fromEnv = await loadServiceConfig({ file: path, env, flags: {} });
    expect(fromEnv.supervisor).toMatchObject({
      strategy: 'one-for-all',
      maxRestarts: 3,
      withinMs: 1_000,
      health: { intervalMs: 2_500 },
    });
    const flags = {
      restartStrategy: 'one-for-one',
      maxRestarts: '1',
      supervisor: ['backoff.minMs=50', 'health.action=fail'],
    };
    const fromFlags = await loadServiceConfig({ file: path, env, flags });
    expect(fromFlags.supervisor).toMatchObject({
      strategy: 'one-for-one',
      maxRestarts: 1,
      backoff: { minMs: 50 },
      health: { intervalMs: 2_500, action: 'fail' },
    });
  });

  it('applies a timer from the environment or a flag to every collector, over the file', async () => {
    const path = await file('timers.yaml', YAML_TWO_COLLECTORS);
    const env = {
      [`${ENV_PREFIX.timers}PING_INTERVAL_MS`]: '12000',
      [`${ENV_PREFIX.timers}SILENCE_MS_TICKER`]: '0',
    };
    const flags = { timer: ['backoff.maxMs=5000', 'silenceMs.ticker=30000'] };
    const config = await loadServiceConfig({ file: path, env, flags });
    for (const collector of config.collectors) {
      expect(collector.timers.pingIntervalMs).toBe(12_000);
      expect(collector.timers.silenceMs.ticker).toBe(30_000);
      expect(collector.timers.silenceMs.orderbook).toBe(DEFAULT_TIMERS.silenceMs.orderbook);
      expect(collector.timers.backoff.maxMs).toBe(5_000);
      expect(collector.timers.backoff.initialMs).toBe(DEFAULT_TIMERS.backoff.initialMs);
    }
  });

  it('has one distinct variable for every timer and supervisor field', () => {
    const names = [...TIMER_SETTINGS, ...SUPERVISOR_SETTINGS].map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    expect(TIMER_SETTINGS.map((s) => s.path)).toContain('silenceMs.candle');
    expect(SUPERVISOR_SETTINGS.find((s) => s.path === 'maxRestarts')?.env).toBe(ENV.maxRestarts);
    expect(SUPERVISOR_SETTINGS.find((s) => s.path === 'health.stuckAfterMs')?.env).toBe(
      'MARKET_COLLECTOR_SUPERVISOR_HEALTH_STUCK_AFTER_MS',
    );
  });

  it('takes the shutdown timeout from the environment and the flag', async () => {
    const env = { [ENV.symbols]: 'BTC-USDT', [ENV.shutdownTimeoutMs]: '800' };
    expect((await loadServiceConfig({ env, flags: {} })).shutdownTimeoutMs).toBe(800);
    const flags = { shutdownTimeoutMs: '1200' };
    expect((await loadServiceConfig({ env, flags })).shutdownTimeoutMs).toBe(1_200);
  });

  it('refuses an unknown timer variable by name, without quoting its value', async () => {
    const name = `${ENV_PREFIX.timers}PING_INTERVAL`;
    const env = { [ENV.symbols]: 'BTC-USDT', [name]: 'tok-123' };
    const error = await configErrorOf(loadServiceConfig({ env, flags: {} }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([['environment', name]]);
    expect(error.issues[0]?.expected).toContain(`${ENV_PREFIX.timers}PING_INTERVAL_MS`);
    expect(error.message).not.toContain('tok-123');
  });

  it('names the variable or flag that gave a timer something other than a number', async () => {
    const name = `${ENV_PREFIX.timers}PONG_TIMEOUT_MS`;
    const env = { [ENV.symbols]: 'BTC-USDT', [name]: 'soon' };
    const flags = { timer: ['pingIntervalMs'], maxRestarts: 'many' };
    const error = await configErrorOf(loadServiceConfig({ env, flags }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      [name, 'soon'],
      ['--timer', 'pingIntervalMs'],
      ['--max-restarts', 'many'],
    ]);
  });

  it('leaves range checks to the schema, which names the field', async () => {
    const flags = {
      symbols: 'BTC-USDT',
      restartStrategy: 'all-for-one',
      timer: ['pongTimeoutMs=-1'],
    };
    const error = await configErrorOf(loadServiceConfig({ env: {}, flags }));
    expect(error.issues.map((i) => [i.field, i.received])).toEqual([
      ['supervisor.strategy', 'all-for-one'],
      ['collectors.0.timers.pongTimeoutMs', -1],
    ]);
  });
});

describe('loadServiceConfig: secrets in a config file', () => {
  const SECRET_YAML = `
collectors:
  - exchange: okx
    symbol: BTC-USDT
    credentials: { apiKey: k3y-abc, secretKeyEnv: OKX_SECRET_KEY }
`;

  async function withMode(name: string, text: string, mode: number): Promise<string> {
    const path = await file(name, text);
    await chmod(path, mode);
    return path;
  }

  it.skipIf(process.platform === 'win32')(
    'refuses a file holding a secret that group or others can read, saying how to fix it',
    async () => {
      const path = await withMode('open.yaml', SECRET_YAML, 0o644);
      const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
      expect(error.code).toBe('config-file-exposed');
      expect(error.issues.map((i) => i.field)).toEqual(['collectors.0.credentials.apiKey']);
      expect(error.message).toBe(
        `config file ${path} holds secrets (collectors.0.credentials.apiKey) and is readable by ` +
          `group or others (mode 0644): run chmod 600 ${path}`,
      );
      expect(error.message).not.toContain('k3y-abc');
    },
  );

  it.skipIf(process.platform === 'win32')(
    'refuses one that others can write, and a misplaced secret anywhere in it',
    async () => {
      const text = `token: tok-123\n${SECRET_YAML}`;
      const path = await withMode('writable.yaml', text, 0o620);
      const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
      expect(error.code).toBe('config-file-exposed');
      expect(error.message).toContain('token, collectors.0.credentials.apiKey');
      expect(error.message).toContain('writable by group or others (mode 0620)');
    },
  );

  it('accepts literal credentials in a file only its owner can read', async () => {
    for (const mode of [0o600, 0o400]) {
      const path = await withMode(`private-${mode.toString(8)}.yaml`, SECRET_YAML, mode);
      const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
      expect(config.collectors[0]?.credentials).toEqual({
        apiKey: 'k3y-abc',
        secretKeyEnv: 'OKX_SECRET_KEY',
      });
    }
  });

  it('does not check the mode of a file that only names its secrets', async () => {
    const text = 'collectors:\n  - { exchange: okx, symbol: A-B, credentials: { apiKeyEnv: K } }\n';
    const path = await withMode('names.yaml', text, 0o644);
    const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
    expect(config.collectors[0]?.credentials).toEqual({ apiKeyEnv: 'K' });
  });

  it("reads a relative secrets file path from the config file's folder", async () => {
    const text =
      'credentials: { file: okx-secrets.yaml }\n' +
      'collectors:\n  - { exchange: okx, symbol: A-B, credentials: { file: /run/okx.json } }\n';
    const path = await file('relative.yaml', text);
    const config = await loadServiceConfig({ file: path, env: {}, flags: {} });
    expect(config.credentials?.file).toBe(join(dir, 'okx-secrets.yaml'));
    expect(config.collectors[0]?.credentials?.file).toBe('/run/okx.json');
  });

  it('refuses a secret given both literally and by variable, without quoting it', async () => {
    const both = '{ apiKey: k3y-abc, apiKeyEnv: OKX_API_KEY }';
    const numeric = '{ passphrase: 1234 }';
    const refusals: [string, unknown][][] = [];
    for (const [name, credentials] of [
      ['both.yaml', both],
      ['numeric.yaml', numeric],
    ] as const) {
      const text = `collectors:\n  - { exchange: okx, symbol: A-B, credentials: ${credentials} }\n`;
      const path = await withMode(name, text, 0o600);
      const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
      expect(error.message).not.toContain('k3y-abc');
      expect(error.message).not.toContain('1234');
      refusals.push(error.issues.map((i) => [i.field, i.received]));
    }
    expect(refusals).toEqual([
      [['collectors.0.credentials.apiKeyEnv', 'OKX_API_KEY']],
      [['collectors.0.credentials.passphrase', '[redacted]']],
    ]);
  });

  it('redacts secrets inside a value the schema quotes back whole', async () => {
    const text = 'collectors:\n  - { exchange: okx, symbol: A-B, token: tok-123 }\n';
    const path = await withMode('unknown-key.yaml', text, 0o600);
    const error = await configErrorOf(loadServiceConfig({ file: path, env: {}, flags: {} }));
    expect(JSON.stringify(error.issues)).not.toContain('tok-123');
    expect(error.message).not.toContain('tok-123');
  });
});
