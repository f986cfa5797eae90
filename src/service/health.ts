import type { CollectorManager, CollectorStatus, ManagerStatus } from '../api.ts';
import { sanitizeError } from './logging.ts';

/**
 * The checks behind `/livez` and `/readyz`. Liveness looks only inside the process (is the
 * supervisor actor alive, and with it its health tick): a failing liveness probe gets the process
 * killed, so it must never fail because an exchange is down. Readiness is the opposite question:
 * are the configured collectors live, i.e. subscribed, right now.
 */

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly message: string;
}

export interface Verdict {
  readonly ok: boolean;
  readonly checks: readonly Check[];
}

/** The parts of an XState snapshot liveness reads; `actor` is typed loosely by the API. */
interface SupervisorSnapshot {
  readonly status?: unknown;
  readonly value?: unknown;
  readonly error?: unknown;
}

function supervisorSnapshot(manager: CollectorManager): SupervisorSnapshot {
  return manager.actor.getSnapshot() as SupervisorSnapshot;
}

/** `idle`, `running` (its value is then `{ running: 'watching' }`) or `stopped`. */
function phaseOf(snapshot: SupervisorSnapshot): string {
  return typeof snapshot.value === 'string' ? snapshot.value : 'running';
}

/**
 * Alive while the supervisor actor is active. Its health tick is a delayed event of that actor,
 * so the tick dies with it (an action that throws puts the actor in `error`); a blocked event
 * loop stops the tick too, and then this answer never leaves the process at all.
 */
export function liveness(manager: CollectorManager): Verdict {
  const snapshot = supervisorSnapshot(manager);
  const active = snapshot.status === 'active';
  const phase = phaseOf(snapshot);
  const message = active
    ? phase === 'running'
      ? 'supervisor running, health tick armed'
      : `supervisor ${phase}, no health tick while not running`
    : `supervisor actor is ${String(snapshot.status)}${failure(snapshot)}`;
  const checks: Check[] = [
    { name: 'process', ok: true, message: `pid ${process.pid} answering` },
    { name: 'supervisor', ok: active, message },
  ];
  if (active && phase === 'running') checks.push(tickCheck(manager));
  return { ok: checks.every((c) => c.ok), checks };
}

/** How many tick intervals may pass without a tick before the supervisor counts as stuck. */
const MISSED_TICKS = 3;

/** The supervisor's health tick ran within the last few intervals (on the manager's clock). */
function tickCheck(manager: CollectorManager): Check {
  const { lastTickAt, intervalMs, now } = manager.health();
  // Before the first tick there is nothing to judge: the first one is an interval away.
  if (lastTickAt === undefined) return { name: 'tick', ok: true, message: 'first tick pending' };
  const ageMs = now - lastTickAt;
  const ok = ageMs <= MISSED_TICKS * intervalMs;
  return {
    name: 'tick',
    ok,
    message: ok
      ? `health tick ${ageMs} ms ago`
      : `no health tick for ${ageMs} ms (every ${intervalMs} ms expected)`,
  };
}

function failure(snapshot: SupervisorSnapshot): string {
  return snapshot.error === undefined ? '' : `: ${sanitizeError(snapshot.error).message}`;
}

/**
 * Ready when not shutting down, the supervisor runs, and every enabled collector is subscribed
 * (`lifecycle` running, `state` subscribed). A disabled collector was switched off on purpose
 * and does not count against readiness; a service with none enabled collects nothing and is not
 * ready.
 */
export function readiness(
  manager: CollectorManager,
  status: ManagerStatus,
  shuttingDown: boolean,
): Verdict {
  const snapshot = supervisorSnapshot(manager);
  const phase = snapshot.status === 'active' ? phaseOf(snapshot) : String(snapshot.status);
  const enabled = status.collectors.filter((c) => c.enabled);
  const checks: Check[] = [
    {
      name: 'shutdown',
      ok: !shuttingDown,
      message: shuttingDown ? 'shutting down' : 'not shutting down',
    },
    { name: 'supervisor', ok: phase === 'running', message: phase },
    {
      name: 'collectors',
      ok: enabled.length > 0,
      message: `${enabled.length} of ${status.collectors.length} enabled`,
    },
    ...status.collectors.map(collectorCheck),
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

function collectorCheck(collector: CollectorStatus): Check {
  const name = `collector:${collector.id}`;
  if (!collector.enabled) return { name, ok: true, message: 'disabled' };
  const ok = collector.lifecycle === 'running' && collector.state === 'subscribed';
  const error =
    ok || collector.lastError === undefined
      ? ''
      : `; last error: ${sanitizeError(collector.lastError).message}`;
  const since = new Date(collector.since).toISOString();
  return { name, ok, message: `${collector.state} since ${since}${error}` };
}
