import { ChannelOptionError } from '../exchanges/errors.ts';
import { getExchange, hasExchange, supportedExchanges } from '../exchanges/registry.ts';
import type { ChannelOptions, ExchangeAdapter } from '../exchanges/types.ts';
import type { DataType } from '../streams/events.ts';
import {
  type CollectorConfig,
  type ConfigIssue,
  collectorConfigSchema,
  symbolsOf,
} from './schema.ts';

/**
 * What the schema cannot know about a collector: that its exchange is registered and accepts its
 * symbols, data types and channel options. The config loader and `addCollector` both ask here, so
 * a file `config validate` passes is one `run` accepts.
 */

/** The data type whose channel each option picks. */
const OPTION_DATA_TYPE: Readonly<Record<keyof ChannelOptions, DataType>> = {
  bookChannel: 'orderbook',
  candleInterval: 'candle',
};

/** The fields of a collector config the adapter is asked about. */
export type CheckedFields = Pick<
  CollectorConfig,
  'exchange' | 'symbol' | 'symbols' | 'dataTypes' | 'bookChannel' | 'candleInterval'
>;

/** The issues of one collector; fields start with `prefix` (`collectors.0`), if any. */
export function checkAgainstExchange(config: CheckedFields, prefix = ''): ConfigIssue[] {
  const field = (path: string) => (prefix === '' ? path : `${prefix}.${path}`);
  if (!hasExchange(config.exchange)) {
    const expected = `one of the supported exchanges: ${supportedExchanges().join(', ')}`;
    return [{ field: field('exchange'), received: config.exchange, expected }];
  }
  const adapter = getExchange(config.exchange);
  const symbolIssues = symbolsOf(config).flatMap((symbol, i): ConfigIssue[] => {
    const problem = adapter.validateSymbol(symbol);
    const path = config.symbols === undefined ? 'symbol' : `symbols.${i}`;
    return problem === undefined
      ? []
      : [{ field: field(path), received: symbol, expected: problem }];
  });
  const typeIssues = config.dataTypes.flatMap((dataType, i): ConfigIssue[] => {
    if (adapter.dataTypes.includes(dataType)) return [];
    const expected = `a data type ${adapter.id} supports: ${adapter.dataTypes.join(', ')}`;
    return [{ field: field(`dataTypes.${i}`), received: dataType, expected }];
  });
  return [...symbolIssues, ...typeIssues, ...channelIssues(adapter, config, field)];
}

/** The options that pick a collector's channels, as `channelFor` takes them. */
export function channelOptions(config: CheckedFields): ChannelOptions {
  return {
    ...(config.bookChannel === undefined ? {} : { bookChannel: config.bookChannel }),
    ...(config.candleInterval === undefined ? {} : { candleInterval: config.candleInterval }),
  };
}

/**
 * Asks the adapter for the channel of every data type the collector subscribes to, as the
 * collector will when it starts, and of every data type an option is given for: a `bookChannel`
 * typo is refused even before `orderbook` is added to the data types. One symbol is enough: the
 * options are the collector's, the same for each of its symbols.
 */
function channelIssues(
  adapter: ExchangeAdapter,
  config: CheckedFields,
  field: (path: string) => string,
): ConfigIssue[] {
  const options = channelOptions(config);
  const optioned = (Object.keys(options) as (keyof ChannelOptions)[]).map(
    (option) => OPTION_DATA_TYPE[option],
  );
  const dataTypes = new Set([...config.dataTypes, ...optioned]);
  const [symbol = ''] = symbolsOf(config);
  const issues: ConfigIssue[] = [];
  for (const dataType of dataTypes) {
    if (!adapter.dataTypes.includes(dataType)) continue;
    try {
      adapter.channelFor(dataType, symbol, options);
    } catch (error) {
      issues.push(channelIssue(error, dataType, config, field));
    }
  }
  return issues;
}

function channelIssue(
  error: unknown,
  dataType: DataType,
  config: CheckedFields,
  field: (path: string) => string,
): ConfigIssue {
  if (error instanceof ChannelOptionError) {
    return { field: field(error.option), received: error.received, expected: error.expected };
  }
  // An adapter that throws something else names no option: the data type is what it refused.
  const message = error instanceof Error ? error.message : String(error);
  const index = config.dataTypes.indexOf(dataType);
  return {
    field: field(index < 0 ? 'dataTypes' : `dataTypes.${index}`),
    received: dataType,
    expected: `a data type the adapter can subscribe to (${message})`,
  };
}

/**
 * `checkAgainstExchange` on a collector as given (`unknown`, before the schema), for the fields
 * the schema accepts even when others of the collector are refused: a bad `bookSnapshot` does not
 * hide a bad `bookChannel` until it is fixed. Nothing while the exchange, the symbols or the data
 * types are refused themselves, as the adapter would be asked about a guess; a `bookChannel` or
 * `candleInterval` the schema refuses is left out. Repeats in a list are the schema's to report:
 * the list is checked as it is, so the fields keep the indexes of the file.
 */
export function checkAsFarAsParsed(entry: unknown, prefix = ''): ConfigIssue[] {
  if (!isRecord(entry)) return [];
  const { shape } = collectorConfigSchema;
  const exchange = shape.exchange.safeParse(entry.exchange);
  const symbol = shape.symbol.safeParse(entry.symbol);
  const symbols = shape.symbols.safeParse(entry.symbols);
  const dataTypes = shape.dataTypes.safeParse(entry.dataTypes);
  if (!exchange.success || !symbol.success || !symbols.success || !dataTypes.success) return [];
  // Neither or both: the schema says so, and which symbols are meant is not known.
  if ((symbol.data === undefined) === (symbols.data === undefined)) return [];
  const bookChannel = shape.bookChannel.safeParse(entry.bookChannel);
  const candleInterval = shape.candleInterval.safeParse(entry.candleInterval);
  const fields: CheckedFields = {
    exchange: exchange.data,
    symbol: symbol.data,
    symbols: symbols.data,
    dataTypes: dataTypes.data,
    bookChannel: bookChannel.success ? bookChannel.data : undefined,
    candleInterval: candleInterval.success ? candleInterval.data : undefined,
  };
  return checkAgainstExchange(fields, prefix);
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
