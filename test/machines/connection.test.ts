import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_TIMERS } from '../../src/config/schema.ts';
import { backoffDelayMs, seededRandom } from '../../src/machines/backoff.ts';
import { type Harness, ofKind, startHarness } from '../support/harness.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

function stateOf(id: string): string | undefined {
  return h.manager.getCollector(id)?.getStatus().state;
}

async function subscribed(id: string): Promise<void> {
  await h.until(() => stateOf(id) === 'subscribed', `${id} subscribed`);
}

function reconnectReasons(): string[] {
  return ofKind(h.telemetry, 'reconnect').map((r) => r.reason);
}

describe('connection heartbeat', () => {
  it('pings after the ping interval without traffic and stays up while pongs come', async () => {
    h = await startHarness();
    const id = h.add({});
    h.manager.startAll();
    await subscribed(id);
    h.advance(DEFAULT_TIMERS.pingIntervalMs - 1);
    await h.until(() => true);
    expect(h.mock.pingsReceived).toBe(0);
    h.advance(1);
    await h.until(() => h.mock.pingsReceived === 1, 'first ping');
    // The pong arrives over the real socket; then the next ping is due one interval later.
    const heartbeat = () => h.manager.getCollector(id)?.getStatus().connections[0]?.heartbeat;
    await h.until(() => heartbeat() === 'waiting', 'pong received');
    h.advance(DEFAULT_TIMERS.pongTimeoutMs + 1);
    expect(stateOf(id)).toBe('subscribed');
    h.advance(DEFAULT_TIMERS.pingIntervalMs);
    await h.until(() => h.mock.pingsReceived === 2, 'second ping');
    expect(h.mock.connectionCount).toBe(1);
    expect(reconnectReasons()).toEqual([]);
  });

  it('terminates a peer that stops answering pings and reconnects, three times in a row', async () => {
    h = await startHarness();
    const id = h.add({});
    h.manager.startAll();
    await subscribed(id);
    h.mock.blackhole(true);
    for (let round = 1; round <= 3; round++) {
      h.advance(DEFAULT_TIMERS.pingIntervalMs);
      await h.until(() => h.mock.pingsReceived === round, `ping ${round}`);
      h.advance(DEFAULT_TIMERS.pongTimeoutMs);
      // Declared dead within ping interval + pong timeout; the socket is destroyed at once,
      // without waiting for a close handshake the peer would ignore.
      expect(stateOf(id)).toBe('reconnecting');
      await h.until(() => h.mock.connections.length === 0, `socket ${round} destroyed`);
      h.advance(DEFAULT_TIMERS.backoff.maxMs);
      await h.until(() => h.mock.connectionCount === round + 1, `connection ${round + 1}`);
      // Only once the new socket's machine is open is its heartbeat armed, and may simulated
      // time move on: on a busy machine the client's open event can trail the server's accept.
      await h.until(
        () => h.manager.getCollector(id)?.getStatus().connections[0]?.heartbeat !== undefined,
        `connection ${round + 1} open`,
      );
    }
    h.mock.blackhole(false);
    // Each blackholed connection ate its subscribe; the healthy one is subscribed again.
    const fresh = h.mock.connections[0];
    await h.until(() => h.mock.requests.some((r) => r.connection === fresh?.id), 'subscribe');
    await h.until(() => h.mock.requests.length >= 4, 'fourth subscribe');
    expect(reconnectReasons()).toEqual(['pong-timeout', 'pong-timeout', 'pong-timeout']);
    expect(h.mock.closes.filter((c) => c.code === 1006)).toHaveLength(3);
  });

  it('recycles a connection whose tickers fall silent while pings are answered', async () => {
    h = await startHarness();
    const id = h.add({ dataTypes: ['ticker'] });
    h.manager.startAll();
    await subscribed(id);
    h.mock.push('tickers', 'BTC-USDT', 1);
    await h.until(() => h.events.length === 1, 'ticker');
    h.mock.stopData();
    // Keep the heartbeat happy: a ping every interval, answered.
    for (let t = 0; t < 2; t++) {
      h.advance(DEFAULT_TIMERS.pingIntervalMs);
      await h.until(() => h.mock.pingsReceived === t + 1, `ping ${t + 1}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stateOf(id)).toBe('subscribed');
    h.advance(DEFAULT_TIMERS.silenceMs.ticker - 2 * DEFAULT_TIMERS.pingIntervalMs);
    expect(reconnectReasons()).toEqual(['data-stall']);
    expect(h.manager.getCollector(id)?.getStatus().connections[0]?.lastReason).toBe('data-stall');
  });
});

describe('reconnect backoff', () => {
  it('follows the backoff schedule while upgrades are refused, never with two sockets', async () => {
    h = await startHarness();
    h.mock.refuseUpgrades(503);
    const id = h.add({});
    h.manager.startAll();
    const random = seededRandom(42);
    const expected: number[] = [];
    let maxOpen = 0;
    for (let attempt = 1; attempt <= 6; attempt++) {
      await h.until(() => h.mock.upgradeAttempts.length === attempt, `attempt ${attempt}`);
      await h.until(() => stateOf(id) === 'reconnecting', 'reconnecting');
      maxOpen = Math.max(maxOpen, h.mock.openSocketCount());
      const delay = backoffDelayMs(attempt, DEFAULT_TIMERS.backoff, random);
      expected.push(delay);
      h.advance(delay - 1);
      await new Promise((r) => setTimeout(r, 10));
      expect(h.mock.upgradeAttempts).toHaveLength(attempt);
      h.advance(1);
    }
    const delays = ofKind(h.telemetry, 'reconnect').map((r) => r.delayMs);
    expect(delays).toEqual(expected);
    expect(delays[5]).toBeGreaterThan(delays[0] as number);
    expect(maxOpen).toBeLessThanOrEqual(1);
    h.mock.refuseUpgrades(null);
    await subscribed(id);
    expect(reconnectReasons().every((r) => r === 'http-503')).toBe(true);
  });

  for (const refusal of ['reset', 'malformed'] as const) {
    it(`counts one reconnect per failed upgrade (${refusal}) and never holds two sockets`, async () => {
      h = await startHarness();
      h.mock.refuseUpgrades(refusal);
      const id = h.add({});
      h.manager.startAll();
      let maxOpen = 0;
      for (let attempt = 1; attempt <= 4; attempt++) {
        await h.until(
          () => ofKind(h.telemetry, 'reconnect').length === attempt,
          `failure ${attempt}`,
        );
        maxOpen = Math.max(maxOpen, h.mock.openSocketCount());
        expect(h.mock.upgradeAttempts).toHaveLength(attempt);
        if (attempt < 4) h.advance(DEFAULT_TIMERS.backoff.maxMs);
      }
      expect(maxOpen).toBeLessThanOrEqual(1);
      h.mock.refuseUpgrades(null);
      h.advance(DEFAULT_TIMERS.backoff.maxMs);
      await h.until(() => stateOf(id) === 'subscribed', 'subscribed after the outage');
    });
  }

  it('gives up after repeated permanent refusals (HTTP 451) and shows the error', async () => {
    h = await startHarness();
    h.mock.refuseUpgrades(451);
    const id = h.add({});
    h.manager.startAll();
    for (let i = 0; i < 5; i++) {
      await h.until(() => stateOf(id) !== 'connecting');
      h.advance(DEFAULT_TIMERS.backoff.maxMs);
    }
    await h.until(() => stateOf(id) === 'failed', 'failed');
    expect(h.mock.upgradeAttempts).toHaveLength(3);
    // Permanent: the supervisor does not restart it into the same refusal.
    expect(h.manager.getCollector(id)?.getStatus().lastError).toBe('http-451 (permanent)');
    expect(h.manager.getStatus().failed).toEqual([id]);
    h.advance(10 * DEFAULT_TIMERS.backoff.maxMs);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.mock.upgradeAttempts).toHaveLength(3);
  });

  it('times out a connect whose upgrade never completes, and the next attempt survives', async () => {
    h = await startHarness();
    h.mock.holdUpgrades(true);
    const id = h.add({});
    h.manager.startAll();
    await h.until(() => h.mock.upgradeAttempts.length === 1, 'held attempt');
    h.advance(DEFAULT_TIMERS.connectTimeoutMs);
    expect(reconnectReasons()).toEqual(['connect-timeout']);
    h.mock.holdUpgrades(false);
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    // No timer of the first attempt may act on the second.
    h.advance(DEFAULT_TIMERS.connectTimeoutMs * 2);
    expect(stateOf(id)).toBe('subscribed');
    expect(reconnectReasons()).toEqual(['connect-timeout']);
    await h.until(
      () => h.mock.openSocketCount() === 1,
      `held socket released (${h.mock.openSocketCount()})`,
    );
  });

  it('resets the attempt counter only after the connection was stable', async () => {
    h = await startHarness();
    const id = h.add({});
    h.manager.startAll();
    await subscribed(id);
    const attempts = () => ofKind(h.telemetry, 'reconnect').map((r) => r.attempt);
    h.mock.dropAll('terminate');
    await h.until(() => stateOf(id) === 'reconnecting');
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.mock.dropAll('terminate');
    await h.until(() => attempts().length === 2);
    expect(attempts()).toEqual([1, 2]);
    h.advance(DEFAULT_TIMERS.backoff.maxMs);
    await subscribed(id);
    h.advance(DEFAULT_TIMERS.backoff.stableAfterMs);
    h.mock.dropAll('terminate');
    await h.until(() => attempts().length === 3);
    expect(attempts()).toEqual([1, 2, 1]);
  });
});
