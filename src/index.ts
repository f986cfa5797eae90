/**
 * market-collector: self-healing exchange market-data collectors as XState statecharts, delivered
 * as RxJS streams. This module is the public API.
 */
export type * from './api.ts';
export {
  type CollectorConfig,
  type CollectorConfigInput,
  ConfigError,
  type ConfigIssue,
  DEFAULT_TIMERS,
  parseCollectorConfig,
  parseServiceConfig,
  type ServiceConfig,
  type ServiceConfigInput,
  type TimersConfig,
} from './config/schema.ts';
export { ChannelOptionError } from './exchanges/errors.ts';
export {
  getExchange,
  registerExchange,
  supportedExchanges,
  UnknownExchangeError,
} from './exchanges/registry.ts';
export type * from './exchanges/types.ts';
export { backoffDelayMs, seededRandom } from './machines/backoff.ts';
export { type Clock, createSimulatedClock, systemClock } from './machines/clock.ts';
export { createCollectorManager } from './machines/manager.ts';
export {
  type AdminRoute,
  type AdminServer,
  type AdminServerOptions,
  startAdminServer,
} from './service/admin.ts';
export type * from './streams/events.ts';
export { DATA_TYPES } from './streams/events.ts';
export { FAULT_CODES, type FaultCode } from './streams/faults.ts';
export {
  candlesFromTrades,
  forCollector,
  forExchange,
  forSymbol,
  ofType,
} from './streams/operators.ts';
export type * from './streams/telemetry.ts';
