import { filter, type MonoTypeOperatorFunction, Observable, type OperatorFunction } from 'rxjs';
import type { CandleEvent, MarketEvent, MarketEventType, TradeEvent } from './events.ts';

/**
 * Operators strategies compose on `data$`. Each narrows the event type where it can, so that
 * `data$.pipe(ofType('trade'))` is an `Observable<TradeEvent>`.
 */

export type EventOfType<T extends MarketEventType> = Extract<MarketEvent, { type: T }>;

/** Keeps events of the given kinds. */
export function ofType<T extends MarketEventType>(
  ...types: readonly T[]
): OperatorFunction<MarketEvent, EventOfType<T>> {
  if (types.length === 1) {
    const only = types[0];
    return filter((event): event is EventOfType<T> => event.type === only);
  }
  const wanted = new Set<string>(types);
  return filter((event): event is EventOfType<T> => wanted.has(event.type));
}

/** Keeps events of the given instruments (the exchange's own ids, e.g. `BTC-USDT`). */
export function forSymbol<E extends { readonly symbol: string }>(
  ...symbols: readonly string[]
): MonoTypeOperatorFunction<E> {
  const wanted = new Set(symbols);
  return filter((event) => wanted.has(event.symbol));
}

/** Keeps events of the given exchanges (registry ids, e.g. `okx`). */
export function forExchange<E extends { readonly exchange: string }>(
  ...exchanges: readonly string[]
): MonoTypeOperatorFunction<E> {
  const wanted = new Set(exchanges.map((e) => e.toLowerCase()));
  return filter((event) => wanted.has(event.exchange));
}

/** Keeps events of one collector. */
export function forCollector<E extends { readonly collectorId: string }>(
  id: string,
): MonoTypeOperatorFunction<E> {
  return filter((event) => event.collectorId === id);
}

/**
 * Builds candles from trades, for intervals the exchange does not offer (e.g. 7 s or 2 m). Buckets
 * are aligned to the epoch on the exchange's trade time, per collector, exchange and symbol (two
 * collectors of one symbol make two series, never one of double volume). A candle is emitted
 * `closed: true` when the first trade of a later bucket arrives, so on a quiet market the last
 * one stays open until the next trade; with `emitOpen`, every trade also emits the bucket's
 * candle so far (`closed: false`). A trade older than the current bucket (a late backfill) is
 * not folded in: a closed candle is never rewritten. Trades only: a `gap` on `data$` says where
 * candles may be short of trades.
 */
export function candlesFromTrades(
  intervalMs: number,
  options: { emitOpen?: boolean; interval?: string } = {},
): OperatorFunction<TradeEvent, CandleEvent> {
  if (!Number.isInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive integer, got ${intervalMs}`);
  }
  const label = options.interval ?? `${intervalMs}ms`;
  return (source) =>
    new Observable<CandleEvent>((subscriber) => {
      const open = new Map<string, MutableCandle>();
      return source.subscribe({
        next(trade) {
          const key = `${trade.collectorId}:${trade.exchange}:${trade.symbol}`;
          const start = Math.floor(trade.timestamp / intervalMs) * intervalMs;
          let candle = open.get(key);
          if (candle !== undefined && start < candle.timestamp) return;
          if (candle !== undefined && start > candle.timestamp) {
            subscriber.next({ ...candle, closed: true });
            candle = undefined;
          }
          if (candle === undefined) {
            candle = {
              type: 'candle',
              exchange: trade.exchange,
              symbol: trade.symbol,
              collectorId: trade.collectorId,
              timestamp: start,
              localTimestamp: trade.localTimestamp,
              interval: label,
              open: trade.price,
              high: trade.price,
              low: trade.price,
              close: trade.price,
              volume: 0,
              closed: false,
            };
            open.set(key, candle);
          }
          candle.high = Math.max(candle.high, trade.price);
          candle.low = Math.min(candle.low, trade.price);
          candle.close = trade.price;
          candle.volume += trade.amount;
          candle.localTimestamp = trade.localTimestamp;
          if (options.emitOpen === true) subscriber.next({ ...candle });
        },
        error: (error) => subscriber.error(error),
        complete() {
          for (const candle of open.values()) subscriber.next({ ...candle, closed: false });
          subscriber.complete();
        },
      });
    });
}

type MutableCandle = { -readonly [K in keyof CandleEvent]: CandleEvent[K] };
