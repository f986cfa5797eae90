import { describe, expect, it } from 'vitest';
import { okxAdapter } from '../../../src/exchanges/okx/adapter.ts';
import type { ParseResult } from '../../../src/exchanges/types.ts';

const context = { collectorId: 'okx-test', receivedAt: Date.UTC(2026, 9, 2) };
const parse = (frame: object): ParseResult => okxAdapter.parse(JSON.stringify(frame), context);

/** Live 60018 wordings (PROTOCOLS.md §1): older captures, then a 2026-10-02 capture. */
const WRONG_CHANNEL_OLD =
  "Wrong URL or channel:tickers,instId:X doesn't exist. Please use the correct URL, channel and parameters referring to API document.";
const WRONG_CHANNEL_2026 =
  "Subscribe failed, wrong URL or channel:trades,instId:BTC-XXX doesn't exist. Please use the correct URL, channel and parameters referring to API document.";

describe('parse: acks', () => {
  it('parses a subscribe ack with the id of its request', () => {
    const ack = { id: '1512', event: 'subscribe', arg: { channel: 'trades', instId: 'BTC-USDT' } };
    expect(parse({ ...ack, connId: 'a4d3ae55' })).toStrictEqual({
      control: { kind: 'subscribed', channel: 'trades', symbol: 'BTC-USDT', requestId: '1512' },
    });
  });

  it('parses an unsubscribe ack as unsubscribed', () => {
    const ack = { event: 'unsubscribe', arg: { channel: 'tickers', instId: 'BTC-USDT-SWAP' } };
    expect(parse(ack)).toStrictEqual({
      control: { kind: 'unsubscribed', channel: 'tickers', symbol: 'BTC-USDT-SWAP' },
    });
  });

  it('leaves requestId out when the ack echoes no usable id', () => {
    const arg = { channel: 'trades', instId: 'BTC-USDT' };
    expect(parse({ event: 'subscribe', arg, id: 1512 }).control).not.toHaveProperty('requestId');
    expect(parse({ event: 'subscribe', arg, id: '' }).control).not.toHaveProperty('requestId');
  });
});

describe('parse: errors', () => {
  it.each([
    ['older', WRONG_CHANNEL_OLD, 'tickers', 'X'],
    ['2026', WRONG_CHANNEL_2026, 'trades', 'BTC-XXX'],
  ])('reads the channel and instId out of the %s 60018 wording', (_age, msg, channel, symbol) => {
    expect(parse({ event: 'error', code: '60018', msg, connId: 'a4d3ae55' })).toStrictEqual({
      control: { kind: 'error', code: '60018', message: msg, channel, symbol },
    });
  });

  it('keeps the request id of an error, the reliable way to correlate it', () => {
    const frame = { id: 'r7', event: 'error', code: '60018', msg: WRONG_CHANNEL_2026 };
    expect(parse(frame).control).toMatchObject({ kind: 'error', requestId: 'r7' });
  });

  it('prefers an arg over the message, should an error ever carry one', () => {
    const arg = { channel: 'books5', instId: 'ETH-USDT' };
    const frame = { event: 'error', code: '60018', msg: WRONG_CHANNEL_2026, arg };
    expect(parse(frame).control).toMatchObject({ channel: 'books5', symbol: 'ETH-USDT' });
  });

  it('names no channel when the message names none', () => {
    const control = parse({ event: 'error', code: '60014', msg: 'Requests too frequent.' }).control;
    expect(control).toStrictEqual({
      kind: 'error',
      code: '60014',
      message: 'Requests too frequent.',
    });
  });

  it('accepts a numeric code and a missing msg rather than lose an error frame', () => {
    expect(parse({ event: 'error', code: 60018 }).control).toStrictEqual({
      kind: 'error',
      code: '60018',
      message: '',
    });
  });
});

describe('parse: notices and other events', () => {
  it('parses a 64008 notice as a notice control', () => {
    const msg = 'The connection will soon be closed for a service upgrade. Please reconnect.';
    expect(parse({ event: 'notice', code: '64008', msg })).toStrictEqual({
      control: { kind: 'notice', code: '64008', message: msg },
    });
  });

  it.each(['channel-conn-count', 'login', 'channel-conn-count-error'])(
    'parses the known event %s quietly as info, without a fault',
    (event) => {
      const frame = { event, channel: 'books', connCount: '2', connId: 'a4d3ae55' };
      expect(parse(frame)).toStrictEqual({ control: { kind: 'info', event } });
    },
  );

  it('parses an unknown event as info and counts it as event-unknown', () => {
    const result = parse({ event: 'maintenance-window', at: '1' });
    expect(result.control).toStrictEqual({ kind: 'info', event: 'maintenance-window' });
    expect(result.fault?.code).toBe('event-unknown');
    expect(result.events).toBeUndefined();
  });
});
