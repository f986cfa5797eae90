import { filter, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import type { MarketEvent, MarketEventType } from './events.ts';

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
