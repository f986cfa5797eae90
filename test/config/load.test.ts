import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV, loadServiceConfig } from '../../src/config/load.ts';
import { ConfigError, DEFAULT_EXCHANGE } from '../../src/config/schema.ts';
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
