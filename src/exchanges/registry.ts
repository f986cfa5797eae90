import { okxAdapter } from './okx/adapter.ts';
import type { ExchangeAdapter } from './types.ts';

/** The exchange registry: one adapter per exchange id, shared by every manager in the process. */
const adapters = new Map<string, ExchangeAdapter>();

export class UnknownExchangeError extends Error {
  readonly code = 'unknown-exchange';
  constructor(readonly exchange: string) {
    super(
      `unknown exchange "${exchange}": supported exchanges are ${supportedExchanges().join(', ')}`,
    );
    this.name = 'UnknownExchangeError';
  }
}

export function registerExchange(adapter: ExchangeAdapter): void {
  adapters.set(adapter.id.toLowerCase(), adapter);
}

export function supportedExchanges(): string[] {
  return [...adapters.keys()].sort();
}

export function getExchange(id: string): ExchangeAdapter {
  const adapter = adapters.get(id.toLowerCase());
  if (adapter === undefined) throw new UnknownExchangeError(id);
  return adapter;
}

export function hasExchange(id: string): boolean {
  return adapters.has(id.toLowerCase());
}

registerExchange(okxAdapter);
