import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../src/config/issues.ts';
import {
  ConfigError,
  type ConfigIssue,
  parseServiceConfig,
  serviceConfigSchema,
} from '../../src/config/schema.ts';

/** The issues of a service config the schema refuses. */
function issuesOf(input: unknown): ConfigIssue[] {
  const result = parseConfig(serviceConfigSchema, input, '');
  expect(result.success).toBe(false);
  return result.success ? [] : result.issues;
}

/** A service config of one collector, with `fields` laid over a valid one. */
const withCollector = (fields: Record<string, unknown>) => ({
  collectors: [{ exchange: 'okx', symbols: ['BTC-USDT'], ...fields }],
});

/** Zod's own wording, which quotes the value again and the expectation twice. */
const ZOD_WORDING = /Invalid|Too small|Too big|Unrecognized|expected one of "|received /;

describe('config issues: every kind the schemas produce', () => {
  it.each([
    // invalid_value
    [
      'an enum',
      withCollector({ bookSnapshot: 'REST' }),
      'collectors.0.bookSnapshot',
      'REST',
      'one of auto, rest',
    ],
    [
      'an enum in a list',
      withCollector({ dataTypes: ['trade', 'Ticker'] }),
      'collectors.0.dataTypes.1',
      'Ticker',
      'one of trade, ticker, orderbook, candle',
    ],
    [
      'an enum at the root',
      { ...withCollector({}), logLevel: 'loud' },
      'logLevel',
      'loud',
      'one of fatal, error, warn, info, debug, trace, silent',
    ],
    // invalid_type
    [
      'a string for a number',
      withCollector({ timers: { pingIntervalMs: 'soon' } }),
      'collectors.0.timers.pingIntervalMs',
      'soon',
      'a number',
    ],
    [
      'a fraction for an integer',
      withCollector({ timers: { pingIntervalMs: 1.5 } }),
      'collectors.0.timers.pingIntervalMs',
      1.5,
      'an integer',
    ],
    [
      'a number for a string',
      withCollector({ exchange: 5 }),
      'collectors.0.exchange',
      5,
      'a string',
    ],
    [
      'a word for a boolean',
      withCollector({ autoRestart: 'yes' }),
      'collectors.0.autoRestart',
      'yes',
      'true or false',
    ],
    [
      'a string for a list',
      withCollector({ dataTypes: 'trade' }),
      'collectors.0.dataTypes',
      'trade',
      'a list',
    ],
    ['null for a mapping', { collectors: [null] }, 'collectors.0', null, 'a mapping'],
    ['a list at the root', ['okx'], '(root)', ['okx'], 'a mapping'],
    [
      'a missing field',
      { collectors: [{ symbols: ['BTC-USDT'] }] },
      'collectors.0.exchange',
      undefined,
      'a string',
    ],
    // too_small, too_big
    [
      'zero for a positive number',
      withCollector({ timers: { connectTimeoutMs: 0 } }),
      'collectors.0.timers.connectTimeoutMs',
      0,
      'a number above 0',
    ],
    [
      'a negative for a non-negative one',
      withCollector({ timers: { silenceMs: { ticker: -1 } } }),
      'collectors.0.timers.silenceMs.ticker',
      -1,
      'a number of at least 0',
    ],
    [
      'a number below a minimum',
      withCollector({ timers: { backoff: { factor: 0.5 } } }),
      'collectors.0.timers.backoff.factor',
      0.5,
      'a number of at least 1',
    ],
    [
      'a number over a maximum',
      withCollector({ timers: { backoff: { jitter: 2 } } }),
      'collectors.0.timers.backoff.jitter',
      2,
      'a number of at most 1',
    ],
    [
      'a delay longer than a timer takes',
      withCollector({ timers: { pongTimeoutMs: 3e9 } }),
      'collectors.0.timers.pongTimeoutMs',
      3e9,
      'a number of at most 2147483647',
    ],
    [
      'an empty list',
      withCollector({ symbols: [] }),
      'collectors.0.symbols',
      [],
      'a non-empty list',
    ],
    ['no collectors', { collectors: [] }, 'collectors', [], 'a non-empty list'],
    [
      'an empty string',
      withCollector({ bookChannel: '' }),
      'collectors.0.bookChannel',
      '',
      'a non-empty string',
    ],
    // a schema's own message, for a pattern or a refinement, is kept
    [
      'a pattern with its own message',
      withCollector({ endpoint: 'http://x' }),
      'collectors.0.endpoint',
      'http://x',
      'a ws:// or wss:// URL',
    ],
    [
      'a refinement',
      { ...withCollector({}), http: 'nowhere' },
      'http',
      'nowhere',
      expect.stringMatching(/^HOST:PORT /),
    ],
  ])('reads cleanly for %s', (_, input, field, received, expected) => {
    const issues = issuesOf(input);
    expect(issues).toEqual([{ field, received, expected }]);
    for (const issue of issues) expect(issue.expected).not.toMatch(ZOD_WORDING);
  });

  it('names each unknown key on its own, with the known keys and the one it is likely a typo of', () => {
    const issues = issuesOf(withCollector({ backfil: false, colour: 'red' }));
    expect(issues.map((i) => [i.field, i.received])).toEqual([
      ['collectors.0', 'backfil'],
      ['collectors.0', 'colour'],
    ]);
    expect(issues[0]?.expected).toMatch(
      /^a known key \(did you mean backfill\?\): id, exchange, symbol, symbols, dataTypes, /,
    );
    // Nothing is close to `colour`: the known keys alone.
    expect(issues[1]?.expected).toMatch(/^a known key: id, exchange, /);
  });

  it('suggests a key whatever its case, at the root too', () => {
    const issues = issuesOf({ ...withCollector({}), loglevel: 'info' });
    expect(issues).toEqual([
      {
        field: '(root)',
        received: 'loglevel',
        expected: expect.stringMatching(/^a known key \(did you mean logLevel\?\): logLevel, /),
      },
    ]);
  });

  it('quotes the value once in the message, after "got"', () => {
    const error = (() => {
      try {
        parseServiceConfig(withCollector({ bookSnapshot: 'REST', backfil: false }));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const { message } = error as ConfigError;
    expect(message).toContain('collectors.0.bookSnapshot: got "REST", expected one of auto, rest');
    expect(message).toContain('collectors.0: got "backfil", expected a known key (did you mean');
    expect(message.match(/REST/g)).toHaveLength(1);
    expect(message.match(/backfil\b/g)).toHaveLength(1);
  });

  it('quotes neither the value nor the key of an unknown secret-named field', () => {
    const issues = issuesOf(withCollector({ token: 's3cr3t' }));
    expect(issues.map((i) => [i.field, i.received])).toEqual([['collectors.0', 'token']]);
    expect(JSON.stringify(issues)).not.toContain('s3cr3t');
  });
});

describe('config issues: the kinds no schema of ours produces yet', () => {
  const expectationOf = (schema: z.ZodType, input: unknown) => {
    const result = parseConfig(schema, input, 'field');
    return result.success ? undefined : result.issues.map((i) => i.expected);
  };

  it.each([
    ['a union of whole values', z.union([z.string(), z.number()]), true, 'a string or a number'],
    [
      'a union whose option refused a field',
      z.union([z.string(), z.strictObject({ a: z.number() })]),
      { a: 'x' },
      'one of the accepted forms',
    ],
    [
      'a discriminator',
      z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('a') }),
        z.object({ kind: z.literal('b') }),
      ]),
      { kind: 'c' },
      'one of a, b',
    ],
    [
      'two options matched by an exclusive union',
      z.xor([z.string(), z.string().min(1)]),
      'ab',
      'a value that exactly one of the accepted forms takes',
    ],
    ['a literal', z.literal('okx'), 'kraken', 'okx'],
    ['a multiple', z.number().multipleOf(5), 3, 'a multiple of 5'],
    ['a format', z.email(), 'nobody', 'a valid email'],
    ['a bare pattern', z.string().regex(/^a+$/), 'b', 'text matching /^a+$/'],
    ['a prefix', z.string().startsWith('wss://'), 'ws://x', 'text starting with "wss://"'],
    ['an exact length', z.array(z.number()).length(2), [1], 'a list of exactly 2 items'],
    ['a longest string', z.string().max(1), 'ab', 'a string of at most 1 character'],
    [
      'a record key',
      z.record(z.string().min(2), z.number()),
      { a: 1 },
      'a key that is a string of at least 2 characters',
    ],
    ['a refinement without a message', z.number().refine((n) => n > 1), 1, 'a valid value'],
  ])('reads cleanly for %s', (_, schema, input, expected) => {
    const [only, ...more] = expectationOf(schema, input) ?? [];
    expect(more).toEqual([]);
    expect(only).toBe(expected);
    expect(only).not.toMatch(ZOD_WORDING);
  });
});
