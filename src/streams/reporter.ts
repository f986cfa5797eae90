import type { Logger } from 'pino';
import type { Subject } from 'rxjs';
import type { FaultCode } from './faults.ts';
import type { MachineKind, SubscriptionTelemetry, TelemetryEvent } from './telemetry.ts';

/**
 * Turns what the machines report into telemetry events and log lines: state transitions and
 * counted faults are logged; single market messages never are. Faults are logged with a sample,
 * the first few of each code in full and then one in every thousand, so a flood of bad frames
 * cannot flood the log while every one is still counted.
 */

const FAULTS_LOGGED_IN_FULL = 10;
const FAULT_LOG_EVERY = 1_000;

export interface StateChange {
  readonly machine: MachineKind;
  readonly collectorId: string | undefined;
  readonly connectionId: string | undefined;
  readonly to: string;
  readonly reason: string | undefined;
}

export class TelemetryReporter {
  private readonly lastState = new Map<string, { state: string; at: number }>();
  private readonly faultCounts = new Map<string, number>();
  private readonly loggers = new Map<string, Logger>();

  constructor(
    private readonly subject: Subject<TelemetryEvent>,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** The logger bound to a collector (and a connection of it). */
  loggerFor(collectorId: string | undefined, connectionId?: string): Logger {
    const key = `${collectorId ?? ''}|${connectionId ?? ''}`;
    let child = this.loggers.get(key);
    if (child === undefined) {
      const bindings: Record<string, string> = {};
      if (collectorId !== undefined) bindings.collector = collectorId;
      if (connectionId !== undefined) bindings.connection = connectionId;
      child = this.logger.child(bindings);
      this.loggers.set(key, child);
    }
    return child;
  }

  /** Forgets the loggers and state of a collector that was removed. */
  forget(collectorId: string): void {
    for (const key of this.loggers.keys()) {
      if (key.startsWith(`${collectorId}|`)) this.loggers.delete(key);
    }
    for (const key of this.lastState.keys()) {
      if (key.includes(`|${collectorId}|`)) this.lastState.delete(key);
    }
  }

  /** When the given machine last changed state. */
  since(machine: MachineKind, collectorId: string, connectionId?: string): number | undefined {
    return this.lastState.get(`${machine}|${collectorId}|${connectionId ?? ''}`)?.at;
  }

  state(change: StateChange): void {
    const key = `${change.machine}|${change.collectorId ?? ''}|${change.connectionId ?? ''}`;
    const at = this.now();
    const from = this.lastState.get(key)?.state;
    // A re-entered state (a queued connection asking again) is no transition.
    if (from === change.to) return;
    this.lastState.set(key, { state: change.to, at });
    const logger = this.loggerFor(change.collectorId, change.connectionId);
    const bad = change.to === 'error' || change.to === 'failed';
    (bad ? logger.warn.bind(logger) : logger.info.bind(logger))(
      { machine: change.machine, from, to: change.to, reason: change.reason },
      `${change.machine} ${from ?? '(new)'} -> ${change.to}`,
    );
    this.emit({ type: 'state', at, ...change, from });
  }

  reconnect(event: {
    collectorId: string;
    connectionId: string;
    attempt: number;
    delayMs: number;
    reason: string;
  }): void {
    this.loggerFor(event.collectorId, event.connectionId).warn(
      { attempt: event.attempt, delayMs: event.delayMs, reason: event.reason },
      'connection reconnecting',
    );
    this.emit({ type: 'reconnect', at: this.now(), ...event });
  }

  restart(event: { collectorId: string; delayMs: number; reason: string }): void {
    this.loggerFor(event.collectorId).warn(
      { delayMs: event.delayMs, reason: event.reason },
      'collector restarting',
    );
    this.emit({ type: 'restart', at: this.now(), ...event });
  }

  subscription(event: Omit<SubscriptionTelemetry, 'type' | 'at'>): void {
    if (event.state === 'failed' || event.state === 'retrying') {
      this.loggerFor(event.collectorId).warn(
        { channel: event.channel, symbol: event.symbol, code: event.code, detail: event.message },
        `subscription ${event.state}`,
      );
    }
    this.emit({ type: 'subscription', at: this.now(), ...event });
  }

  /** Faults counted for the whole runtime, by code (the per-collector counts live in feeds). */
  faultsByCode(): Record<string, number> {
    return Object.fromEntries(this.faultCounts);
  }

  fault(fault: {
    code: FaultCode;
    collectorId: string | undefined;
    connectionId: string | undefined;
    message: string;
    sample: string | undefined;
  }): void {
    const count = (this.faultCounts.get(fault.code) ?? 0) + 1;
    this.faultCounts.set(fault.code, count);
    // A telemetry$ subscriber that throws would throw again on the fault reporting its throw:
    // past the first few, such faults are counted and logged but not emitted.
    if (fault.code === 'subscriber-threw' && count > FAULTS_LOGGED_IN_FULL) {
      if (count % FAULT_LOG_EVERY === 0) {
        this.loggerFor(undefined).warn({ fault: fault.code, count }, fault.message);
      }
      return;
    }
    if (count <= FAULTS_LOGGED_IN_FULL || count % FAULT_LOG_EVERY === 0) {
      this.loggerFor(fault.collectorId, fault.connectionId).warn(
        { fault: fault.code, count, sample: fault.sample },
        fault.message,
      );
    }
    this.emit({ type: 'fault', at: this.now(), ...fault });
  }

  private emit(event: TelemetryEvent): void {
    this.subject.next(event);
  }
}
