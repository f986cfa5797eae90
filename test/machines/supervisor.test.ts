import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { DEFAULT_SUPERVISION, DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { okxAdapter } from '../../src/exchanges/okx/adapter.ts';
import { registerExchange } from '../../src/exchanges/registry.ts';
import { createCollectorManager } from '../../src/index.ts';
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

describe('health monitor', () => {
  it('restarts a collector whose every subscription stays failed', async () => {
    const t = await startHarness({
      mock: { unknownInstIds: ['NOPE-USDT'] },
      manager: { supervisor: { health: { allFailedForMs: 20_000 } } },
    });
    h = t;
    const id = t.add({ id: 'hopeless', symbols: ['NOPE-USDT'], dataTypes: ['trade'] });
    t.manager.startAll();
    await t.until(() => statusOf(t, id).subscriptions[0]?.state === 'failed', 'refused');
    await t.advanceUntil(() => restartsOf(t, id).length === 1, 'restart', 1_000, 60);
    expect(restartsOf(t, id)[0]?.reason).toMatch(/^unhealthy: every subscription failed for/);
  });

  it('fails a collector that reconnects again and again without any data, when told to', async () => {
    const t = await startHarness({
      manager: { supervisor: { health: { reconnectsWithoutData: 3, action: 'fail' } } },
    });
    h = t;
    const id = t.add({ id: 'flappy', dataTypes: ['trade'] });
    t.manager.startAll();
    for (let drop = 1; drop <= 3; drop++) {
      await t.advanceUntil(() => statusOf(t, id).state === 'subscribed', `up ${drop}`);
      t.mock.dropAll('terminate');
      await t.until(() => statusOf(t, id).reconnects === drop, `down ${drop}`);
    }
    await t.advanceUntil(() => statusOf(t, id).lifecycle === 'failed', 'failed', 1_000, 30);
    expect(statusOf(t, id).lastError).toBe('3 reconnects without any data');
    await t.until(() => t.mock.connections.length === 0, 'no socket left');
  });

  it('does not count reconnects that were followed by data', async () => {
    const t = await startHarness({
      manager: { supervisor: { health: { reconnectsWithoutData: 2 } } },
    });
    h = t;
    const id = t.add({ id: 'lively', dataTypes: ['trade'] });
    t.manager.startAll();
    let tradeId = 1;
    for (let drop = 1; drop <= 4; drop++) {
      await t.advanceUntil(() => statusOf(t, id).state === 'subscribed', `up ${drop}`);
      t.mock.pushTrades('BTC-USDT', [tradeId++]);
      await t.until(() => statusOf(t, id).events >= drop, `data ${drop}`);
      t.advance(DEFAULT_SUPERVISION.health.intervalMs);
      t.mock.dropAll('terminate');
      await t.until(() => statusOf(t, id).reconnects === drop, `down ${drop}`);
    }
    expect(restartsOf(t, id)).toHaveLength(0);
  });
});

describe('lifecycle at any moment', () => {
  it('disabling during a restart backoff cancels the restart; enabling starts it fresh', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'crashy', exchange: 'okx-crashy' });
    t.manager.startAll();
    await t.until(() => restartsOf(t, id).length === 1, 'crash');
    t.manager.disableCollector(id);
    t.manager.disableCollector(id);
    t.advance(DEFAULT_SUPERVISION.backoff.maxMs * 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(statusOf(t, id).state).toBe('disabled');
    expect(restartsOf(t, id)).toHaveLength(1);
    expect(t.mock.connectionCount).toBe(1);
    t.manager.enableCollector(id);
    await t.advanceUntil(() => restartsOf(t, id).length === 2, 'crashes again once enabled');
  });

  it('removing during a backoff leaves no socket, timer or later restart', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'crashy', exchange: 'okx-crashy' });
    t.manager.startAll();
    await t.until(() => restartsOf(t, id).length === 1, 'crash');
    t.manager.removeCollector(id);
    t.manager.removeCollector(id);
    t.advance(DEFAULT_SUPERVISION.backoff.maxMs * 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.manager.getCollector(id)).toBeUndefined();
    expect(restartsOf(t, id)).toHaveLength(1);
    expect(t.mock.connectionCount).toBe(1);
    expect(t.mock.openSocketCount()).toBe(0);
  });

  it('restarting twice in a row stops the old actor before spawning its id again', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'twice' });
    t.manager.startAll();
    await t.until(() => statusOf(t, id).state === 'subscribed');
    t.manager.restartCollector(id);
    t.manager.restartCollector(id);
    await t.advanceUntil(() => statusOf(t, id).state === 'subscribed', 'subscribed again');
    await t.until(() => t.mock.connections.length === 1, 'one socket');
    expect(statusOf(t, id).restarts).toBe(2);
    // An orphaned actor would still ping on its own socket.
    t.advance(DEFAULT_TIMERS.pingIntervalMs);
    await t.until(() => t.mock.pingsReceived >= 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(t.mock.pingsReceived).toBe(1);
  });

  it('a manual restart during a backoff cancels the pending restart timer', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'crashy', exchange: 'okx-crashy' });
    t.manager.startAll();
    await t.until(() => restartsOf(t, id).length === 1, 'first crash');
    const firstDelay = restartsOf(t, id)[0]?.delayMs ?? 0;
    t.manager.restartCollector(id);
    // The new connection waits for its slot under 3 connections per second.
    t.advance(400);
    await t.until(() => restartsOf(t, id).length === 3, 'manual restart, then a second crash');
    const secondDelay = restartsOf(t, id)[2]?.delayMs ?? 0;
    // A manual restart is a fresh start: the backoff begins again from its minimum.
    expect(secondDelay).toBeLessThan(2 * DEFAULT_SUPERVISION.backoff.minMs);
    expect(400 + secondDelay).toBeGreaterThan(firstDelay);
    // The first timer would fire here and restart it early if it had not been cancelled.
    t.advance(firstDelay - 400);
    await new Promise((r) => setTimeout(r, 20));
    expect(statusOf(t, id).lifecycle).toBe('backoff');
    expect(statusOf(t, id).restarts).toBe(1);
  });

  it('restartCollector gives a failed collector a fresh start', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'once', exchange: 'okx-crashy', autoRestart: false });
    t.manager.startAll();
    await t.until(() => statusOf(t, id).lifecycle === 'failed');
    t.manager.restartCollector(id);
    expect(statusOf(t, id).lifecycle).toBe('running');
    await t.advanceUntil(() => statusOf(t, id).lifecycle === 'failed', 'failed again', 100, 20);
    expect(statusOf(t, id).restarts).toBe(1);
  });
});

describe('XState traps', () => {
  it('a socket actor cleans up by itself when an ancestor fails from its own action', async () => {
    const mock = await MockOkx.start();
    const sockets = new SocketTracker();
    const socket = createSocketLogic({
      clock: { now: Date.now, setTimeout, clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
      sockets,
      sinkFor: () => undefined,
    });
    // A machine that opens a socket and then throws in one of its own actions, under a root
    // that takes the failure as data (as the supervisor does).
    const failing = setup({
      actors: { socket },
      actions: {
        explode: () => {
          throw new Error('action threw');
        },
      },
    }).createMachine({
      invoke: {
        id: 'socket',
        src: 'socket',
        input: {
          url: `${mock.url}/public`,
          collectorId: 'x',
          connectionId: 'x',
          ping: 'ping',
          pong: 'pong',
        },
      },
      on: { 'SOCKET.OPEN': { actions: 'explode' } },
    });
    const parent = setup({ actors: { failing } }).createMachine({
      initial: 'running',
      states: {
        running: {
          invoke: { id: 'failing', src: 'failing', onError: 'failed' },
        },
        failed: {},
      },
    });
    const actor = createActor(parent);
    actor.subscribe({ error: () => undefined });
    actor.start();
    await waitFor(() => actor.getSnapshot().value === 'failed', 3000, 'child failed');
    // The failed parent did not stop its child (xstate #5153); the socket closed itself.
    await waitFor(() => sockets.size === 0 && mock.connections.length === 0, 3000, 'socket closed');
    await mock.close();
  });
});

describe('fixes from a trial of the supervisor', () => {
  it('restartAll does not leave connections waiting for slots of stopped ones', async () => {
    const t = await startHarness();
    h = t;
    for (let i = 0; i < 6; i++)
      t.add({ id: `c${i}`, symbols: [`S${i}-USDT`], dataTypes: ['trade'] });
    t.manager.startAll();
    const subscribed = () => t.manager.getStatus().countsByState.subscribed === 6;
    await t.advanceUntil(subscribed, 'all subscribed', 100, 100);
    for (let round = 0; round < 3; round++) t.manager.restartAll();
    const before = t.clock.now();
    await t.advanceUntil(subscribed, 'all subscribed again', 100, 100);
    // 6 connections at 3 per second: two seconds of simulated time, however often restarted.
    expect(t.clock.now() - before).toBeLessThanOrEqual(2_500);
  });

  it('a partial backoff override keeps the supervisor values it does not name', async () => {
    const t = await startHarness({
      manager: { supervisor: { backoff: { minMs: 1_000, maxMs: 1_000, factor: 1, jitter: 0 } } },
    });
    h = t;
    const id = t.add({
      id: 'crashy',
      exchange: 'okx-crashy',
      restart: { backoff: { minMs: 100 } },
    });
    t.manager.startAll();
    await t.advanceUntil(() => restartsOf(t, id).length >= 3, 'three restarts', 50, 200);
    expect(restartsOf(t, id).map((r) => r.delayMs)).toEqual([100, 100, 100]);
  });

  it('resets the restart backoff only after the collector ran resetAfterMs since its restart', async () => {
    const t = await startHarness({
      manager: {
        supervisor: {
          resetAfterMs: 700,
          backoff: { minMs: 400, maxMs: 60_000, factor: 2, jitter: 0 },
        },
      },
    });
    h = t;
    const id = t.add({ id: 'crashy', exchange: 'okx-crashy', restart: { maxRestarts: 10 } });
    t.manager.startAll();
    await t.advanceUntil(() => restartsOf(t, id).length >= 4, 'four restarts', 50, 400);
    // It never ran 700 ms: the backoff keeps growing.
    expect(
      restartsOf(t, id)
        .map((r) => r.delayMs)
        .slice(0, 4),
    ).toEqual([400, 800, 1_600, 3_200]);
  });

  it('dates a failed collector from the moment it failed', async () => {
    const t = await startHarness();
    h = t;
    const id = t.add({ id: 'once', exchange: 'okx-crashy', autoRestart: false });
    t.advance(5_000);
    t.manager.startAll();
    await t.until(() => statusOf(t, id).lifecycle === 'failed');
    expect(statusOf(t, id).since).toBe(t.clock.now());
  });

  it('refuses a backoff whose minimum is above its maximum', () => {
    expect(() => createSupervisorOnly({ backoff: { minMs: 5_000, maxMs: 100 } })).toThrow(
      /supervisor\.backoff\.minMs: got 5000, expected minMs not above maxMs/,
    );
  });
});

function createSupervisorOnly(supervisor: object): void {
  createCollectorManager({ supervisor });
}
