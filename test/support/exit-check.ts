/**
 * Run as its own process by test/machines/no-leaks.test.ts: real clock, real sockets. It drives a
 * collector through F8's edge cases, stops everything and then simply returns. If any timer or
 * socket outlived `stopAll()`, this process would not exit by itself and the test would time out.
 */
import { createCollectorManager } from '../../src/index.ts';
import { MockOkx, waitFor } from './mock-okx.ts';

const trips: string[] = [];
process.on('unhandledRejection', (reason) => trips.push(`unhandledRejection: ${String(reason)}`));
process.on('uncaughtException', (error) => trips.push(`uncaughtException: ${error.message}`));

const mock = await MockOkx.start();
const manager = createCollectorManager({
  collectors: [
    {
      id: 'exit-check',
      exchange: 'okx',
      endpoint: mock.url,
      symbols: ['BTC-USDT', 'ETH-USDT'],
      dataTypes: ['trade', 'ticker'],
      timers: { backoff: { initialMs: 20, maxMs: 50, stableAfterMs: 0 } },
    },
  ],
});
let events = 0;
manager.data$.subscribe(() => events++);
const state = () => manager.getCollector('exit-check')?.getStatus().state;

manager.startAll();
await waitFor(() => state() === 'subscribed', 3000, 'subscribed');
mock.push('trades', 'BTC-USDT', 5);
await waitFor(() => events >= 5, 3000, 'trades');

// A close frame without a status code (the client sees 1005), then a reset while subscribes pend.
mock.drop(1, 1005);
await waitFor(() => mock.connectionCount === 2 && state() === 'subscribed', 3000, 'after 1005');
mock.neverAck = true;
mock.dropAll('terminate');
await waitFor(() => mock.requests.length >= 3, 3000, 'pending subscribe');
// A frame with RSV1 set: ws raises a protocol error and closes.
mock.sendCorruptFrame('rsv1');
await waitFor(() => mock.connectionCount >= 4, 3000, 'after rsv1');
// stop() while subscribes are pending, then during an upgrade.
await waitFor(() => mock.requests.length >= 4, 3000, 'pending again');
await manager.stopAll();
mock.holdUpgrades(true);
manager.startAll();
await waitFor(() => mock.upgradeAttempts.at(-1)?.outcome === 'held', 3000, 'held upgrade');
await manager.stopAll();
await mock.close();

process.stdout.write(`${JSON.stringify({ events, trips })}\n`);
