import { afterEach, describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import { DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { ConfigError, createCollectorManager, supportedExchanges } from '../../src/index.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('manager lifecycle', () => {
  it('adds, disables, enables, restarts and removes collectors, leaving no socket behind', async () => {
    const t = await startHarness();
    h = t;
    const a = t.add({ id: 'a' });
    const b = t.add({ id: 'b', symbols: ['ETH-USDT'] });
    t.manager.startAll();
    const state = (id: string) => t.manager.getCollector(id)?.getStatus().state;
    // The second connection waits for a slot under OKX's 3 connections per second.
    expect(state(b)).toBe('connecting');
    t.advance(1_000);
    await t.until(() => state(a) === 'subscribed' && state(b) === 'subscribed', 'both subscribed');
    expect(t.manager.listCollectors().map((c) => c.id)).toEqual(['a', 'b']);
    expect(t.manager.getStatus().countsByState).toEqual({ subscribed: 2 });

    t.manager.disableCollector(b);
    t.manager.disableCollector(b);
    await t.until(() => t.mock.connections.length === 1, 'b closed');
    expect(state(b)).toBe('disabled');
    expect(t.mock.closes.at(-1)?.code).toBe(1000);
    // Nothing is subscribed while disabled.
    const subs = t.manager.getCollector(b)?.getStatus().subscriptions ?? [];
    expect(subs.map((s) => s.state)).toEqual(['pending', 'pending']);

    t.manager.enableCollector(b);
    t.advance(1_000);
    await t.until(() => state(b) === 'subscribed', 'b again');

    t.manager.restartCollector(a);
    t.advance(1_000);
    await t.until(
      () => state(a) === 'subscribed' && t.mock.connections.length === 2,
      'a restarted',
    );
    expect(t.manager.getCollector(a)?.getStatus().restarts).toBe(1);

    t.manager.removeCollector(a);
    t.manager.removeCollector(a);
    await t.until(() => t.mock.connections.length === 1, 'a removed');
    expect(t.manager.getCollector(a)).toBeUndefined();
    expect(t.manager.listCollectors().map((c) => c.id)).toEqual(['b']);
  });

  it('survives stop/start/stop within milliseconds and ends with no socket', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({});
    t.manager.startAll();
    const first = t.manager.stopAll();
    t.manager.startAll();
    const second = t.manager.stopAll();
    t.advance(5_000);
    await Promise.all([first, second]);
    await t.until(() => t.mock.openSocketCount() === 0, 'no sockets on the server');
    expect(t.manager.getCollector(id)?.getStatus().lifecycle).toBe('stopped');
    t.manager.startAll();
    t.advance(1_000);
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed', 'again');
    expect(t.mock.connections).toHaveLength(1);
  });

  it('keeps other subscribers and the feed alive when one subscriber throws', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ dataTypes: ['trade'] });
    let calls = 0;
    const thrower = t.manager.data$.subscribe(() => {
      calls++;
      if (calls === 2) throw new Error('strategy bug');
    });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.pushTrades('BTC-USDT', [1, 2, 3, 4]);
    await t.until(() => t.events.length === 4, 'all trades to the healthy subscriber');
    await t.until(() => ofKind(t.telemetry, 'fault').some((f) => f.code === 'subscriber-threw'));
    expect(calls).toBe(4);
    const fault = ofKind(t.telemetry, 'fault').find((f) => f.code === 'subscriber-threw');
    expect(fault?.message).toBe('strategy bug');
    thrower.unsubscribe();
  });

  it('counts reconnects and reports state transitions with reasons on telemetry', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({});
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.dropAll(4004, 'No data received in 30s');
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'reconnecting');
    t.advance(DEFAULT_TIMERS.backoff.maxMs);
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    const status = t.manager.getCollector(id)?.getStatus();
    expect(status?.reconnects).toBe(1);
    expect(status?.restarts).toBe(0);
    const states = ofKind(t.telemetry, 'state').filter((s) => s.machine === 'connection');
    expect(states.map((s) => s.to)).toEqual([
      'queued',
      'connecting',
      'subscribing',
      'subscribed',
      'reconnecting',
      'queued',
      'connecting',
      'subscribing',
      'subscribed',
    ]);
    expect(states[4]?.reason).toBe('closed-4004');
    expect(states[4]?.from).toBe('subscribed');
    expect(t.manager.getCollector(id)?.getHealthStatus()).toEqual({ healthy: true, reasons: [] });
  });
});

describe('configuration through the API', () => {
  it('rejects an unknown exchange with the list of supported ones', () => {
    const manager = createCollectorManager();
    expect(() => manager.addCollector({ exchange: 'mtgox', symbols: ['BTC-USD'] })).toThrow(
      ConfigError,
    );
    try {
      manager.addCollector({ exchange: 'mtgox', symbols: ['BTC-USD'] });
    } catch (error) {
      expect((error as ConfigError).issues[0]).toMatchObject({
        field: 'exchange',
        received: 'mtgox',
      });
      expect((error as Error).message).toContain(supportedExchanges().join(', '));
    }
  });

  it('rejects symbols in the wrong wire form and data types the exchange does not serve', () => {
    const manager = createCollectorManager();
    const attempt = () =>
      manager.addCollector({ exchange: 'okx', symbols: ['btcusdt'], dataTypes: ['trade'] });
    expect(attempt).toThrow(/symbols\.0: got "btcusdt"/);
    expect(() =>
      manager.addCollector({ exchange: 'okx', symbols: ['BTC-USDT'], dataTypes: [] }),
    ).toThrow(ConfigError);
    expect(manager.listCollectors()).toEqual([]);
  });

  it('refuses a channel option the exchange does not have, stating the value once', () => {
    const manager = createCollectorManager();
    let error: unknown;
    try {
      manager.addCollector({
        exchange: 'okx',
        symbols: ['BTC-USDT'],
        dataTypes: ['candle'],
        candleInterval: '7m',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      {
        field: 'candleInterval',
        received: '7m',
        expected: expect.stringMatching(/^one of the candle bars: 1s, 1m, /),
      },
    ]);
    expect((error as ConfigError).message.match(/7m/g)).toHaveLength(1);
    expect(manager.listCollectors()).toEqual([]);
  });

  it('refuses a second collector with the same id', () => {
    const manager = createCollectorManager();
    manager.addCollector({ id: 'x', exchange: 'okx', symbols: ['BTC-USDT'] });
    expect(() => manager.addCollector({ id: 'x', exchange: 'okx', symbols: ['ETH-USDT'] })).toThrow(
      /already exists/,
    );
  });
});

describe('book status', () => {
  const level = (px: string, sz: string) => [px, sz, '0', '1'];

  it('shows every book with its state, sequence, resyncs, last fault and update time', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'books', symbols: ['BTC-USDT', 'ETH-USDT'], dataTypes: ['orderbook'] });
    t.manager.startAll();
    const status = () => t.manager.getCollector(id)?.getStatus();
    const book = (symbol: string) => status()?.books.find((b) => b.symbol === symbol);
    await t.until(() => status()?.state === 'subscribed', 'subscribed');
    t.mock.pushBook('BTC-USDT', { action: 'snapshot', seqId: 10, bids: [level('100', '1')] });
    t.mock.pushBook('ETH-USDT', { action: 'snapshot', seqId: 50, asks: [level('11', '1')] });
    await t.until(() => book('ETH-USDT')?.state === 'live', 'both live');
    const brokeAt = t.clock.now();
    t.mock.pushBook('BTC-USDT', { action: 'update', seqId: 200, prevSeqId: 99 });
    await t.until(() => book('BTC-USDT')?.resyncs === 1, 'resynced');
    expect(book('BTC-USDT')).toMatchObject({ state: 'invalid', sequence: undefined });
    t.advance(1_000);
    t.mock.pushBook('BTC-USDT', { action: 'snapshot', seqId: 300, bids: [level('200', '1')] });
    await t.until(() => book('BTC-USDT')?.sequence === 300, 'fresh snapshot');

    expect(status()?.books).toEqual([
      {
        channel: 'books',
        symbol: 'BTC-USDT',
        state: 'live',
        sequence: 300,
        resyncs: 1,
        // Still there after the book healed: status says why it broke.
        lastFault: { code: 'book-sequence-gap', detail: expect.any(String), at: brokeAt },
        updatedAt: brokeAt + 1_000,
      },
      {
        channel: 'books',
        symbol: 'ETH-USDT',
        state: 'live',
        sequence: 50,
        resyncs: 0,
        lastFault: undefined,
        updatedAt: brokeAt,
      },
    ]);
    expect(t.manager.getBook('BTC-USDT')).toMatchObject({
      lastFault: { code: 'book-sequence-gap', at: brokeAt },
      updatedAt: brokeAt + 1_000,
    });
    expect(t.manager.getBook('ETH-USDT')).toMatchObject({ lastFault: undefined });
  });

  it('has no books for a collector without order books', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({});
    expect(t.manager.getCollector(id)?.getStatus().books).toEqual([]);
  });
});

describe('book queries', () => {
  it.each([
    [-1, RangeError, 'received -1'],
    [0, RangeError, 'received 0'],
    [1.5, RangeError, 'received 1.5'],
    [Number.NaN, RangeError, 'received NaN'],
    ['5', TypeError, 'received string "5"'],
  ])(
    'refuses depth %j at the call of getBook and book$, saying what it got',
    (depth, type, received) => {
      const manager = createCollectorManager();
      const query = { depth } as unknown as { depth: number };
      for (const call of [
        () => manager.getBook('BTC-USDT', query),
        () => manager.book$('BTC-USDT', query),
      ]) {
        expect(call).toThrow(type);
        expect(call).toThrow(/depth must be a positive integer/);
        expect(call).toThrow(received);
      }
    },
  );

  it('takes a positive integer depth, or none', () => {
    const manager = createCollectorManager();
    expect(manager.getBook('BTC-USDT', { depth: 1 })).toBeUndefined();
    expect(manager.getBook('BTC-USDT')).toBeUndefined();
    expect(() => manager.book$('BTC-USDT', { depth: 400 }).subscribe().unsubscribe()).not.toThrow();
  });
});

describe('inspection', () => {
  it('passes options.inspect to XState so the whole actor tree can be watched', async () => {
    const inspected: { type: string; id: string }[] = [];
    const t = await startHarness({
      manager: {
        inspect: (event) =>
          inspected.push({ type: event.type, id: (event.actorRef as AnyActorRef).id }),
      },
    });
    h = t;
    const id = t.add({ id: 'watched' });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    const actors = new Set(inspected.filter((e) => e.type === '@xstate.actor').map((e) => e.id));
    expect(actors).toContain('watched');
    expect([...actors].some((a) => a.startsWith('watched/public#'))).toBe(true);
    expect(inspected.some((e) => e.type === '@xstate.snapshot' && e.id === 'watched')).toBe(true);
  });
});

describe('faults found by a new user', () => {
  it('survives a telemetry$ subscriber that throws on every event, without a fault storm', async () => {
    const t = await startHarness();
    h = t;
    let calls = 0;
    t.manager.telemetry$.subscribe(() => {
      calls++;
      throw new Error('telemetry boom');
    });
    const id = t.add({ dataTypes: ['trade'] });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    await new Promise((r) => setTimeout(r, 100));
    const threw = t.manager.getStatus().faultsByCode['subscriber-threw'] ?? 0;
    // Each state change throws once; the reports of those throws are not fed back in a loop.
    expect(threw).toBeGreaterThan(0);
    expect(calls).toBeLessThan(100);
    await t.manager.stopAll();
    await new Promise((r) => setTimeout(r, 50));
  });

  it('announces a gap after a restart when trades were missed', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ dataTypes: ['trade'] });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.pushTrades('BTC-USDT', [1, 2, 3]);
    await t.until(() => t.events.length === 3);
    t.manager.restartCollector(id);
    await t.advanceUntil(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.pushTrades('BTC-USDT', [7, 8]);
    await t.until(() => t.events.length === 6, 'gap and two trades');
    expect(t.events[3]).toMatchObject({ type: 'gap', fromId: '3', toId: '7', missing: 3 });
  });

  it('drops data for a symbol the collector did not subscribe, as a counted fault', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ dataTypes: ['trade'] });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.sendRaw(
      JSON.stringify({
        arg: { channel: 'trades', instId: 'DOGE-USDT' },
        data: [
          {
            instId: 'DOGE-USDT',
            tradeId: '5',
            px: '0.1',
            sz: '10',
            side: 'buy',
            ts: String(t.clock.now()),
          },
        ],
      }),
    );
    t.mock.pushTrades('BTC-USDT', [1]);
    await t.until(() => t.events.length === 1);
    expect(t.events[0]?.symbol).toBe('BTC-USDT');
    expect(t.manager.getCollector(id)?.getStatus().faultsByCode['data-unsubscribed']).toBe(1);
  });

  it('says whether a lifecycle call named a collector it knows', () => {
    const manager = createCollectorManager();
    manager.addCollector({ id: 'k', exchange: 'okx', symbols: ['BTC-USDT'] });
    expect(manager.disableCollector('nope')).toBe(false);
    expect(manager.restartCollector('nope')).toBe(false);
    expect(manager.disableCollector('k')).toBe(true);
    expect(manager.removeCollector('k')).toBe(true);
    expect(manager.removeCollector('k')).toBe(false);
  });
});

describe('ids and robustness', () => {
  it('picks an automatic id no collector uses', () => {
    const manager = createCollectorManager();
    manager.addCollector({ id: 'okx-1', exchange: 'okx', symbols: ['BTC-USDT'] });
    const id = manager.addCollector({ exchange: 'okx', symbols: ['ETH-USDT'] });
    expect(id).toBe('okx-2');
  });

  it('counts an adapter whose parse throws as a fault and keeps the socket', async () => {
    const { okxAdapter } = await import('../../src/exchanges/okx/adapter.ts');
    const { registerExchange } = await import('../../src/exchanges/registry.ts');
    registerExchange({
      ...okxAdapter,
      id: 'okx-parse-throws',
      parse: (text, context) => {
        if (text.includes('"boom"')) throw new Error('parse bug');
        return okxAdapter.parse(text, context);
      },
    });
    const t = await startHarness();
    h = t;
    const id = t.add({ exchange: 'okx-parse-throws', dataTypes: ['trade'] });
    t.manager.startAll();
    await t.until(() => t.manager.getCollector(id)?.getStatus().state === 'subscribed');
    t.mock.sendRaw('{"boom":1}');
    t.mock.pushTrades('BTC-USDT', [1]);
    await t.until(() => t.events.length === 1, 'the next trade');
    expect(t.manager.getCollector(id)?.getStatus().faultsByCode['internal-error']).toBe(1);
    expect(t.mock.connectionCount).toBe(1);
  });
});
