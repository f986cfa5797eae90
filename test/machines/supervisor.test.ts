import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActor, fromCallback, setup } from 'xstate';
import { DEFAULT_SUPERVISION, DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { okxAdapter } from '../../src/exchanges/okx/adapter.ts';
import { registerExchange } from '../../src/exchanges/registry.ts';
import { createSocketLogic, SocketTracker } from '../../src/machines/socket.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';
import { MockOkx, waitFor } from '../support/mock-okx.ts';

// An exchange whose adapter throws when asked for a subscribe frame: the collector crashes on
// every connection it opens, which is exactly what a supervisor must contain.
beforeAll(() => {
  registerExchange({
    ...okxAdapter,
    id: 'okx-crashy',
    buildRequest: () => {
      throw new Error('adapter bug');
    },
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const statusOf = (t: Harness, id: string) => {
  const s = t.manager.getCollector(id)?.getStatus();
  if (s === undefined) throw new Error(`no collector ${id}`);
  return s;
};
const restartsOf = (t: Harness, id: string) =>
  ofKind(t.telemetry, 'restart').filter((r) => r.collectorId === id);

describe('supervisor restart policy', () => {
  it('restarts a crashing collector with growing delays, then marks it failed; neighbours keep delivering', async () => {
    const t = await startHarness();
    h = t;
    // Pings stay out of the way of the long simulated jumps below.
    const good = t.add({ id: 'good', dataTypes: ['trade'], timers: { pingIntervalMs: 3_600_000 } });
    const bad = t.add({ id: 'bad', exchange: 'okx-crashy' });
    t.manager.startAll();
    t.advance(1_000);
    await t.until(() => statusOf(t, good).state === 'subscribed', 'good subscribed');
    for (let round = 1; round <= DEFAULT_SUPERVISION.maxRestarts; round++) {
      await t.until(() => restartsOf(t, bad).length === round, `crash ${round}`);
      expect(statusOf(t, bad).lifecycle).toBe('backoff');
      const delay = restartsOf(t, bad)[round - 1]?.delayMs ?? 0;
      t.advance(delay);
    }
    await t.until(() => statusOf(t, bad).lifecycle === 'failed', 'failed');
    const delays = restartsOf(t, bad).map((r) => r.delayMs);
    for (let i = 1; i < delays.length; i++) {
      expect(delays[i]).toBeGreaterThan(delays[i - 1] as number);
    }
    expect(statusOf(t, bad).restarts).toBe(DEFAULT_SUPERVISION.maxRestarts);
    expect(statusOf(t, bad).lastError).toMatch(/adapter bug.*more than 5 restarts/);
    expect(t.manager.getStatus().failed).toEqual([bad]);
    // Not restarted again by itself.
    t.advance(10 * DEFAULT_SUPERVISION.backoff.maxMs);
    await new Promise((r) => setTimeout(r, 20));
    expect(restartsOf(t, bad)).toHaveLength(DEFAULT_SUPERVISION.maxRestarts);
    // The neighbour never noticed.
    t.mock.pushTrades('BTC-USDT', [1, 2, 3]);
    await t.until(() => t.events.filter((e) => e.type === 'trade').length === 3, 'trades');
    expect(statusOf(t, good).restarts).toBe(0);
    expect(statusOf(t, good).reconnects).toBe(0);
    // Only the good collector's socket is left open.
    await t.until(() => t.mock.connections.length === 1, 'crashed sockets closed');
  });

  it('leaves a collector with autoRestart off failed at its first crash', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'once', exchange: 'okx-crashy', autoRestart: false });
    t.manager.startAll();
    await t.until(() => statusOf(t, id).lifecycle === 'failed', 'failed');
    expect(statusOf(t, id).lastError).toMatch(/autoRestart is off/);
    expect(restartsOf(t, id)).toHaveLength(0);
  });

  it('one-for-all restarts every collector when one crashes', async () => {
    const t = await startHarness({ manager: { supervisor: { strategy: 'one-for-all' } } });
    h = t;
    t.add({ id: 'a' });
    t.add({ id: 'b', symbols: ['ETH-USDT'] });
    t.manager.startAll();
    t.advance(1_000);
    await t.until(
      () => statusOf(t, 'b').state === 'subscribed' && statusOf(t, 'a').state === 'subscribed',
    );
    // One restart allowed: the first crash restarts everyone, the second fails crashy alone.
    t.add({ id: 'crashy', exchange: 'okx-crashy', restart: { maxRestarts: 1 } });
    t.advance(1_000);
    await t.until(() => restartsOf(t, 'crashy').length === 1, 'crash');
    expect(restartsOf(t, 'a')[0]?.reason).toBe('one-for-all: crashy crashed');
    expect(restartsOf(t, 'b')[0]?.reason).toBe('one-for-all: crashy crashed');
    expect(statusOf(t, 'a').lifecycle).toBe('backoff');
    await t.until(() => t.mock.connections.length === 0, 'every socket closed during the backoff');
    await t.advanceUntil(
      () => statusOf(t, 'a').state === 'subscribed' && statusOf(t, 'b').state === 'subscribed',
      'a and b back',
    );
    expect(statusOf(t, 'crashy').lifecycle).toBe('failed');
    expect(statusOf(t, 'a').restarts).toBe(1);
    expect(statusOf(t, 'b').restarts).toBe(1);
  });

  it('rest-for-one restarts the crashed collector and those added after it, not those before', async () => {
    const t = await startHarness({ manager: { supervisor: { strategy: 'rest-for-one' } } });
    h = t;
    t.add({ id: 'before' });
    t.add({ id: 'crashy', exchange: 'okx-crashy', restart: { maxRestarts: 1 } });
    t.add({ id: 'after', symbols: ['ETH-USDT'] });
    t.manager.startAll();
    await t.advanceUntil(() => restartsOf(t, 'crashy').length === 1, 'crash');
    expect(restartsOf(t, 'after')[0]?.reason).toBe('rest-for-one: crashy crashed');
    await t.advanceUntil(
      () =>
        statusOf(t, 'after').state === 'subscribed' && statusOf(t, 'crashy').lifecycle === 'failed',
      'after back, crashy failed',
    );
    expect(restartsOf(t, 'before')).toHaveLength(0);
    expect(statusOf(t, 'before').restarts).toBe(0);
    expect(statusOf(t, 'before').state).toBe('subscribed');
    expect(statusOf(t, 'after').restarts).toBe(1);
    // `before` kept its first socket all along.
    expect(t.mock.connections.some((c) => c.id === 1)).toBe(true);
  });
});
