import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_TIMERS } from '../../src/config/schema.ts';
import type { GapEvent, TradeEvent } from '../../src/streams/events.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const status = (id: string) => {
  const s = h.manager.getCollector(id)?.getStatus();
  if (s === undefined) throw new Error(`no collector ${id}`);
  return s;
};
const subscribed = (id: string) =>
  h.until(() => h.manager.getCollector(id)?.getStatus().state === 'subscribed', `${id} subscribed`);
const argsOf = (connection: number) =>
  h.mock.requests
    .filter((r) => r.connection === connection && r.op === 'subscribe')
    .flatMap((r) => r.args.map((a) => `${a.channel}:${a.instId}`))
    .sort();

describe('subscriptions', () => {
  it('fails only the unknown symbol of three (60018 without arg) and keeps the others flowing', async () => {
    h = await startHarness({ mock: { unknownInstIds: ['NOPE-USDT'] } });
    const id = h.add({ symbols: ['BTC-USDT', 'NOPE-USDT', 'ETH-USDT'], dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    const subs = Object.fromEntries(status(id).subscriptions.map((s) => [s.symbol, s]));
    expect(subs['NOPE-USDT']).toMatchObject({ state: 'failed', code: '60018' });
    expect(subs['BTC-USDT']?.state).toBe('active');
    expect(subs['ETH-USDT']?.state).toBe('active');
    h.mock.push('trades', 'BTC-USDT', 2);
    h.mock.push('trades', 'ETH-USDT', 2);
    await h.until(() => h.events.length === 4, 'trades of the good symbols');
    expect(h.mock.connectionCount).toBe(1);
    expect(h.mock.requests).toHaveLength(1);
    // No retry loop: later reconnects leave the refused symbol out.
    h.mock.dropAll('terminate');
    await h.until(() => status(id).state === 'reconnecting', 'reconnecting');
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await h.until(() => h.mock.connectionCount === 2 && argsOf(2).length === 2, 'resubscribed');
    expect(argsOf(2)).toEqual(['trades:BTC-USDT', 'trades:ETH-USDT']);
    const fault = ofKind(h.telemetry, 'fault').find((f) => f.code === 'subscribe-rejected');
    expect(fault?.message).toContain('NOPE-USDT');
  });

  it('re-sends exactly the wanted set, once each, after the server closes during subscribe', async () => {
    h = await startHarness();
    h.mock.closeOnSubscribe = 'terminate';
    const id = h.add({ symbols: ['BTC-USDT', 'ETH-USDT', 'SOL-USDT'] });
    h.manager.startAll();
    await h.until(() => h.mock.requests.length === 1, 'first subscribe');
    await h.until(() => status(id).state === 'reconnecting', 'reconnecting');
    expect(status(id).subscriptions.every((s) => s.state === 'pending')).toBe(true);
    h.mock.closeOnSubscribe = null;
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    const wanted = ['BTC-USDT', 'ETH-USDT', 'SOL-USDT']
      .flatMap((s) => [`tickers:${s}`, `trades:${s}`])
      .sort();
    expect(argsOf(2)).toEqual(wanted);
    expect(h.mock.requests.filter((r) => r.connection === 2)).toHaveLength(1);
  });

  it('sends subscribe requests with echoed ids in the exchange schema', async () => {
    h = await startHarness();
    const id = h.add({});
    h.manager.startAll();
    await subscribed(id);
    const request = h.mock.requests[0];
    expect(request?.id).toMatch(/^[A-Za-z0-9]{1,32}$/);
    const raw = h.mock.received.find((r) => r.connection === 1 && r.text !== 'ping');
    expect(raw?.json).toEqual({
      id: request?.id,
      op: 'subscribe',
      args: [
        { channel: 'trades', instId: 'BTC-USDT' },
        { channel: 'tickers', instId: 'BTC-USDT' },
      ],
    });
  });
});

describe('trades across reconnects', () => {
  it('emits each trade id once and announces the missed range as one gap', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    h.mock.pushTrades('BTC-USDT', range(1, 300), { perFrame: 10 });
    await h.until(() => h.events.length === 300, '300 trades');
    h.mock.dropAll('terminate');
    await h.until(() => status(id).state === 'reconnecting');
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [...range(281, 300), ...range(341, 360)], { perFrame: 5 });
    await h.until(() => h.events.length === 300 + 1 + 20, 'replay and new trades');
    const trades = h.events.filter((e): e is TradeEvent => e.type === 'trade');
    const ids = trades.map((t) => Number(t.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...range(1, 300), ...range(341, 360)]);
    const gaps = h.events.filter((e): e is GapEvent => e.type === 'gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ fromId: '300', toId: '341', missing: 40, reason: 'reconnect' });
    // The gap sits right before the first trade after it.
    expect(h.events[h.events.indexOf(gaps[0] as GapEvent) + 1]).toMatchObject({ id: '341' });
    expect(status(id).duplicatesDropped).toBe(20);
  });

  it('announces no gap when the stream resumes right after the last trade', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [10, 11, 12]);
    await h.until(() => h.events.length === 3);
    h.mock.dropAll('terminate');
    await h.until(() => status(id).state === 'reconnecting');
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [12, 13]);
    await h.until(() => h.events.length === 4);
    expect(h.events.map((e) => e.type)).toEqual(['trade', 'trade', 'trade', 'trade']);
  });
});

describe('bad frames', () => {
  it('counts malformed, non-JSON and unknown frames as faults and keeps delivering', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.push('trades', 'BTC-USDT', 1);
    h.mock.sendRaw('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId"');
    h.mock.sendRaw('hello, not json');
    h.mock.sendRaw('pong');
    h.mock.sendRaw('{"a":1}{"b":2}');
    h.mock.sendRaw(Buffer.from('{"event":"subscribe"}'), { binary: true });
    h.mock.sendRaw(
      '{"event":"channel-conn-count","channel":"trades","connCount":"2","connId":"x"}',
    );
    h.mock.push('trades', 'BTC-USDT', 1);
    await h.until(() => h.events.length === 2, 'trades around the bad frames');
    await h.until(() => status(id).faults >= 4);
    const byCode = status(id).faultsByCode;
    expect(byCode['frame-not-json']).toBe(3);
    expect(byCode['frame-binary']).toBe(1);
    expect(status(id).state).toBe('subscribed');
    expect(h.mock.connectionCount).toBe(1);
    const faults = ofKind(h.telemetry, 'fault');
    expect(faults.every((f) => f.collectorId === id)).toBe(true);
  });

  it('reconnects normally after a protocol error from the server (RSV1 frame)', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.sendCorruptFrame('rsv1');
    await h.until(() => status(id).state === 'reconnecting', 'reconnecting');
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    expect(h.mock.connectionCount).toBe(2);
  });
});

describe('maintenance notice 64008', () => {
  it('subscribes a replacement connection before dropping the old one, without duplicates', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [1, 2, 3]);
    await h.until(() => h.events.length === 3);
    h.mock.sendNotice('64008');
    await h.until(() => status(id).connections.length === 2, 'replacement spawned');
    // The replacement waits for a slot under OKX's 3 connections per second.
    h.advance(1_000);
    await h.until(() => h.mock.connectionCount === 2 && argsOf(2).length === 1, 'replacement');
    await h.until(() => h.mock.connections.length === 1, 'old connection closed');
    expect(h.mock.connections[0]?.id).toBe(2);
    expect(h.mock.closes.find((c) => c.connection === 1)?.code).toBe(1000);
    // The old connection was closed by us only after the new one was subscribed.
    const closedAt = h.mock.closes.find((c) => c.connection === 1)?.at ?? 0;
    const ackedAt = h.mock.requests.find((r) => r.connection === 2)?.at ?? Infinity;
    expect(ackedAt).toBeLessThanOrEqual(closedAt);
    h.mock.pushTrades('BTC-USDT', [3, 4, 5]);
    await h.until(() => h.events.length === 5);
    expect(h.events.map((e) => (e as TradeEvent).id)).toEqual(['1', '2', '3', '4', '5']);
    expect(ofKind(h.telemetry, 'reconnect')).toHaveLength(0);
    expect(status(id).state).toBe('subscribed');
  });
});

describe('trade backfill over REST', () => {
  const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

  it('fetches the trades missed during an outage and emits them in order, marked backfilled', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', range(1, 300), { perFrame: 10 });
    await h.until(() => h.events.length === 300, '300 trades');
    h.mock.dropAll('terminate');
    await h.until(() => status(id).state === 'reconnecting');
    // Trades 301–340 happen while nobody is connected; the exchange keeps them.
    h.mock.recordTrades('BTC-USDT', range(301, 340));
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [...range(281, 300), ...range(341, 360)], { perFrame: 5 });
    await h.until(() => h.events.length === 360, 'every trade once');
    const trades = h.events.filter((e): e is TradeEvent => e.type === 'trade');
    expect(trades.map((t) => Number(t.id))).toEqual(range(1, 360));
    expect(trades.slice(300, 340).every((t) => t.backfilled === true)).toBe(true);
    expect(trades.slice(340).some((t) => t.backfilled === true)).toBe(false);
    expect(h.events.some((e) => e.type === 'gap')).toBe(false);
    expect(h.mock.restRequests.length).toBeGreaterThan(0);
  });

  it('announces what the exchange could not give back as one gap with its bounds', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['trade'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', range(1, 10));
    await h.until(() => h.events.length === 10);
    h.mock.dropAll('terminate');
    await h.until(() => status(id).state === 'reconnecting');
    h.mock.recordTrades('BTC-USDT', range(16, 20));
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.mock.pushTrades('BTC-USDT', [21, 22]);
    await h.until(() => h.events.length === 10 + 1 + 5 + 2, 'gap, backfill, live');
    const gap = h.events.find((e): e is GapEvent => e.type === 'gap');
    // The bounds are the known trades around the hole (11-15), not the whole outage (10-21).
    expect(gap).toMatchObject({ fromId: '10', toId: '16', missing: 5 });
    expect(h.events.slice(11).map((e) => (e as TradeEvent).id)).toEqual([
      '16',
      '17',
      '18',
      '19',
      '20',
      '21',
      '22',
    ]);
  });

  it('honours Retry-After when the REST endpoint is rate limited', async () => {
    h = await startHarness();
    const t = h;
    const id = t.add({ dataTypes: ['trade'] });
    t.manager.startAll();
    await subscribed(id);
    t.mock.pushTrades('BTC-USDT', range(1, 5));
    await t.until(() => t.events.length === 5);
    t.mock.dropAll('terminate');
    await t.until(() => status(id).state === 'reconnecting');
    t.mock.recordTrades('BTC-USDT', range(6, 8));
    t.mock.restRateLimit(1, 2);
    t.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    t.mock.pushTrades('BTC-USDT', [9]);
    await t.until(() => t.mock.restRequests.length === 1, 'the refused request');
    await new Promise((r) => setTimeout(r, 20));
    // Nothing is asked again before the 2 s the server named.
    t.advance(1_900);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.mock.restRequests).toHaveLength(1);
    await t.advanceUntil(() => t.events.length === 9, 'backfilled after the wait', 100, 50);
    expect(t.events.map((e) => (e as TradeEvent).id)).toEqual(range(1, 9).map(String));
    expect(status(id).faultsByCode['rest-rate-limited']).toBe(1);
  });

  it('does not fetch again the fills an aggregated push already carries', async () => {
    h = await startHarness();
    const t = h;
    const id = t.add({ dataTypes: ['trade'] });
    t.manager.startAll();
    await subscribed(id);
    t.mock.pushTrades('BTC-USDT', range(1, 10));
    await t.until(() => t.events.length === 10);
    t.mock.dropAll('terminate');
    await t.until(() => status(id).state === 'reconnecting');
    t.mock.recordTrades('BTC-USDT', range(11, 16));
    t.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    // One taker order of 3 fills (ids 15, 16, 17), as OKX pushes since 2026: `count` 3, id 17.
    const ts = String(t.clock.now());
    const fill = {
      instId: 'BTC-USDT',
      tradeId: '17',
      px: '100',
      sz: '3',
      side: 'buy',
      ts,
      count: '3',
    };
    t.mock.sendRaw(
      JSON.stringify({ arg: { channel: 'trades', instId: 'BTC-USDT' }, data: [fill] }),
    );
    await t.until(() => t.events.length === 15, 'four backfilled, then the push');
    const ids = t.events.slice(10).map((e) => (e as TradeEvent).id);
    expect(ids).toEqual(['11', '12', '13', '14', '17']);
    expect(t.events[14]).toMatchObject({ fills: 3 });
    expect(t.events.some((e) => e.type === 'gap')).toBe(false);
  });
});
