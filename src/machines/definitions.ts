import type { AnyStateMachine } from 'xstate';
import { fromCallback } from 'xstate';
import { getExchange } from '../exchanges/registry.ts';
import { createCollectorMachine } from './collector.ts';
import { createConnectionMachine } from './connection.ts';
import { createRestLogic } from './rest.ts';
import type { SocketCommand, SocketEvent, SocketInput } from './socket.ts';
import { createSupervisorMachine } from './supervisor.ts';

/**
 * Every machine of the runtime, built with inert dependencies: definitions only, for diagrams,
 * Studio exports and the tests that keep the README's diagrams true. No socket is opened and no
 * timer is scheduled: the dependencies are stubs, and no actor is created.
 */

export type MachineName = 'connection' | 'collector' | 'supervisor';

export interface MachineDefinition {
  readonly name: MachineName;
  readonly machine: AnyStateMachine;
}

export const MACHINE_NAMES: readonly MachineName[] = ['connection', 'collector', 'supervisor'];

export function machineDefinitions(): MachineDefinition[] {
  const connection = createConnectionMachine({
    socket: fromCallback<SocketCommand, SocketInput, SocketEvent>(() => undefined),
    now: () => 0,
    random: () => 0,
    reserveConnectSlot: () => 0,
    judgeSilence: () => ({ stalled: undefined, silentMs: 0, nextCheckMs: 0 }),
    reportState: () => undefined,
    reportReconnect: () => undefined,
    reportFault: () => undefined,
  });
  const collector = createCollectorMachine({
    connection,
    adapterFor: getExchange,
    now: () => 0,
    random: () => 0,
    markDisconnected: () => undefined,
    connectionGone: () => undefined,
    rest: createRestLogic(),
    backfillStep: () => ({ kind: 'done' }),
    abortBackfills: () => undefined,
    reportState: () => undefined,
    reportSubscription: () => undefined,
    reportFault: () => undefined,
  });
  const supervisor = createSupervisorMachine({
    collector,
    now: () => 0,
    random: () => 0,
    eventsOf: () => 0,
    onRemoved: () => undefined,
    retain: () => undefined,
    reportState: () => undefined,
    reportRestart: () => undefined,
  });
  return [
    { name: 'connection', machine: connection },
    { name: 'collector', machine: collector },
    { name: 'supervisor', machine: supervisor },
  ];
}
