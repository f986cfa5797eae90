import type { DataType } from '../streams/events.ts';
import type { FaultCode } from './faults.ts';

/**
 * Telemetry: what the runtime did and why. Emitted on `telemetry$`, a few events per minute per
 * collector in steady state; never one per market message.
 */

export type MachineKind = 'supervisor' | 'collector' | 'connection';

export interface StateTelemetry {
  readonly type: 'state';
  readonly at: number;
  readonly machine: MachineKind;
  readonly collectorId: string | undefined;
  readonly connectionId: string | undefined;
  readonly from: string | undefined;
  readonly to: string;
  readonly reason: string | undefined;
}

/**
 * `quarantined`: a book that broke again and again; not resubscribed until the collector
 * restarts, so a broken symbol cannot burn the operation budget in a loop.
 */
export type SubscriptionState = 'pending' | 'active' | 'failed' | 'retrying' | 'quarantined';

export interface SubscriptionTelemetry {
  readonly type: 'subscription';
  readonly at: number;
  readonly collectorId: string;
  readonly dataType: DataType;
  readonly symbol: string;
  readonly channel: string;
  readonly state: SubscriptionState;
  readonly code: string | undefined;
  readonly message: string | undefined;
}

export interface FaultTelemetry {
  readonly type: 'fault';
  readonly at: number;
  readonly code: FaultCode;
  readonly collectorId: string | undefined;
  readonly connectionId: string | undefined;
  readonly message: string;
  readonly sample: string | undefined;
}

export interface ReconnectTelemetry {
  readonly type: 'reconnect';
  readonly at: number;
  readonly collectorId: string;
  readonly connectionId: string;
  /** Attempt number since the connection was last stable, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** The supervisor replaces a collector's actor (a restart, not a reconnect). */
export interface RestartTelemetry {
  readonly type: 'restart';
  readonly at: number;
  readonly collectorId: string;
  /** Delay before the new actor starts; 0 for a restart on request. */
  readonly delayMs: number;
  readonly reason: string;
}

export type TelemetryEvent =
  | StateTelemetry
  | RestartTelemetry
  | SubscriptionTelemetry
  | FaultTelemetry
  | ReconnectTelemetry;
