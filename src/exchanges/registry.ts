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

const REQUIRED_METHODS = [
  'validateSymbol',
  'channelFor',
  'endpointUrl',
  'buildRequest',
  'requestArgBytes',
  'parse',
  'isPermanentError',
  'isReconnectNotice',
] as const;

/** Registers (or replaces) an adapter under its id; throws a TypeError naming what is missing. */
export function registerExchange(adapter: ExchangeAdapter): void {
  const candidate = adapter as Partial<ExchangeAdapter> | null | undefined;
  const missing: string[] = [];
  if (typeof candidate?.id !== 'string' || candidate.id === '') missing.push('id');
  for (const method of REQUIRED_METHODS) {
    if (typeof candidate?.[method] !== 'function') missing.push(`${method}()`);
  }
  if (!Array.isArray(candidate?.dataTypes)) missing.push('dataTypes');
  if (typeof candidate?.defaultEndpoint !== 'string') missing.push('defaultEndpoint');
  if (typeof candidate?.limits !== 'object') missing.push('limits');
  if (typeof candidate?.heartbeat !== 'object') missing.push('heartbeat');
  if (missing.length > 0) {
    throw new TypeError(`registerExchange: the adapter lacks ${missing.join(', ')}`);
  }
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
