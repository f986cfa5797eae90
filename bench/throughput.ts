import type { RawData } from 'ws';
import { createCollectorManager } from '../src/index.ts';
import {
  closeSocket,
  createCounter,
  openSubscribed,
  perCpuSecond,
  perSecond,
  type Timing,
  unlessStalled,
  until,
} from './clients.ts';
import type { ReplayServer } from './server-process.ts';

/**
 * One round per client kind, each on a fresh connection receiving the same bytes:
 *
 * - `transport`: a bare `ws` client that only counts frames: what loopback and `ws` cost;
 * - `ceiling`: a bare `ws` client that also runs `JSON.parse`: the least any consumer pays;
 * - `pipeline`: a collector, socket to `data$` subscriber, counting trade events.
 */

export const CLIENTS = ['transport', 'ceiling', 'pipeline'] as const;
export type ClientKind = (typeof CLIENTS)[number];

export interface Round {
  readonly client: ClientKind;
  readonly frames: number;
  readonly ms: number;
  readonly cpuMs: number;
  readonly perSecond: number;
  readonly perCpuSecond: number;
}

const COLLECTOR_ID = 'bench';
const SUBSCRIBE_TIMEOUT_MS = 10_000;

/** Written by the ceiling client so that no compiler could treat the parse as dead code. */
export let lastParsed: unknown;

export async function runRound(server: ReplayServer, client: ClientKind): Promise<Round> {
  const timing =
    client === 'pipeline' ? await pipelineRound(server) : await bareRound(server, client);
  return { client, ...timing, perSecond: perSecond(timing), perCpuSecond: perCpuSecond(timing) };
}

async function bareRound(server: ReplayServer, client: ClientKind): Promise<Timing> {
  const ws = await openSubscribed(server.publicUrl, server.info.instIds);
  const expected = server.info.frames;
  const counter = createCounter(expected);
  const { tick } = counter;
  if (client === 'ceiling') {
    ws.on('message', (data: RawData) => {
      lastParsed = JSON.parse(data.toString());
      tick();
    });
  } else {
    ws.on('message', tick);
  }
  try {
    return await blastAndCount(server, () => unlessStalled(counter, expected));
  } finally {
    await closeSocket(ws);
  }
}

async function pipelineRound(server: ReplayServer): Promise<Timing> {
  const manager = createCollectorManager({
    collectors: [
      {
        id: COLLECTOR_ID,
        exchange: 'okx',
        endpoint: server.endpoint,
        symbols: [...server.info.instIds],
        dataTypes: ['trade'],
      },
    ],
  });
  const expected = server.info.trades;
  const counter = createCounter(expected);
  const subscription = manager.data$.subscribe(counter.tick);
  const status = () => manager.getCollector(COLLECTOR_ID)?.getStatus();
  try {
    manager.startAll();
    await until(() => status()?.state === 'subscribed', SUBSCRIBE_TIMEOUT_MS, 'the subscription');
    return await blastAndCount(server, async () => {
      try {
        return await unlessStalled(counter, expected);
      } catch (error) {
        const s = status();
        const detail = `events ${s?.events}, duplicates dropped ${s?.duplicatesDropped}`;
        const faults = JSON.stringify(s?.faultsByCode ?? {});
        throw new Error(`pipeline: ${(error as Error).message} (${detail}, faults ${faults})`);
      }
    });
  } finally {
    subscription.unsubscribe();
    await manager.stopAll();
    manager.actor.stop();
  }
}

/** Triggers the blast, counts, and checks that the server reached exactly this one connection. */
async function blastAndCount(server: ReplayServer, count: () => Promise<Timing>): Promise<Timing> {
  const blasted = server.blast();
  // Should counting fail, that error is the one to report; the blast's must not go unhandled.
  blasted.catch(() => {});
  const timing = await count();
  const report = await blasted;
  if (report.connections !== 1 || report.completed !== 1) {
    throw new Error(`expected one subscribed connection; the server sent to ${report.connections}`);
  }
  return timing;
}
