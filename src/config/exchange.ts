import { ChannelOptionError } from '../exchanges/errors.ts';
import { getExchange, hasExchange, supportedExchanges } from '../exchanges/registry.ts';
import type { ChannelOptions, ExchangeAdapter } from '../exchanges/types.ts';
import type { DataType } from '../streams/events.ts';
import { type CollectorConfig, type ConfigIssue, symbolsOf } from './schema.ts';

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

/** The issues of one collector; fields start with `prefix` (`collectors.0`), if any. */
export function checkAgainstExchange(config: CollectorConfig, prefix = ''): ConfigIssue[] {
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
export function channelOptions(config: CollectorConfig): ChannelOptions {
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
  config: CollectorConfig,
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
  config: CollectorConfig,
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
