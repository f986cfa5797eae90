import type { AnyStateMachine } from 'xstate';
import { fromCallback } from 'xstate';
import { getExchange } from '../exchanges/registry.ts';
import { systemClock } from './clock.ts';
import { createCollectorMachine } from './collector.ts';
import { createConnectionMachine } from './connection.ts';
import { createCollectorManager } from './manager.ts';
import type { SocketCommand, SocketEvent, SocketInput } from './socket.ts';

/**
 * Every machine of the runtime, built with inert dependencies: definitions only, for diagrams,
 * Studio exports and the tests that keep the README's diagrams true. No socket is opened and no
 * timer is scheduled; the implementations behind the names are stubs and never run.
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
  });
  const collector = createCollectorMachine({
    connection,
    adapterFor: getExchange,
    now: () => 0,
    random: () => 0,
    markDisconnected: () => undefined,
    reportState: () => undefined,
    reportSubscription: () => undefined,
    reportFault: () => undefined,
  });
  return [
    { name: 'connection', machine: connection },
    { name: 'collector', machine: collector },
    { name: 'supervisor', machine: supervisorMachine() },
  ];
}

/**
 * The root machine. manager.ts keeps its machine factory private, so the definition is read off
 * the root actor of an empty manager, which is then stopped (no collector, so no socket and no
 * timer ever existed). When src/machines/supervisor.ts exports `createSupervisorMachine(deps)`,
 * build it here with inert deps like the two above.
 */
function supervisorMachine(): AnyStateMachine {
  const manager = createCollectorManager({ clock: systemClock });
  const { src } = manager.actor;
  manager.actor.stop();
  if (typeof src === 'string' || !('root' in src)) {
    throw new Error('the manager root actor is not a state machine');
  }
  return src as AnyStateMachine;
}
