import type { ChannelOptions } from './types.ts';

/**
 * Thrown by an adapter's `channelFor` for a channel option the exchange does not have (a depth
 * channel, a candle interval). The option, the value and what was expected travel apart, so
 * config validation can name the collector's field and state each once.
 */
export class ChannelOptionError extends RangeError {
  constructor(
    readonly exchange: string,
    readonly option: keyof ChannelOptions,
    readonly received: string,
    readonly expected: string,
  ) {
    super(`${exchange} option ${option} must be ${expected}; received ${JSON.stringify(received)}`);
    this.name = 'ChannelOptionError';
  }
}
