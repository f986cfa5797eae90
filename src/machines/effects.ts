/** Any machine event: a `type` and its fields. */
export interface AnyEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * Side effects a machine step asks for. A step is a pure function "context before → context
 * after + effects"; one action assigns the new context and enqueues the effects in order, so no
 * step performs a side effect itself and each reads as a plain state transition.
 */
export type Effect =
  | { readonly kind: 'send'; readonly to: string; readonly event: AnyEvent }
  | { readonly kind: 'parent'; readonly event: AnyEvent }
  | { readonly kind: 'spawn'; readonly src: string; readonly id: string; readonly input: unknown }
  | { readonly kind: 'stop'; readonly id: string }
  | {
      readonly kind: 'raise';
      readonly event: AnyEvent;
      readonly delayMs: number;
      readonly id: string;
    }
  | { readonly kind: 'cancel'; readonly id: string }
  | { readonly kind: 'call'; readonly run: () => void };

export function later(fx: Effect[], run: () => void): void {
  fx.push({ kind: 'call', run });
}

/** The part of XState's action enqueuer that `apply` uses. */
export interface Enqueuer {
  (action: () => void): void;
  assign(values: object): void;
  sendTo(to: string, event: AnyEvent): void;
  sendParent(event: AnyEvent): void;
  spawnChild(src: string, options: { id: string; input: unknown }): void;
  stopChild(id: string): void;
  raise(event: AnyEvent, options: { delay: number; id: string }): void;
  cancel(id: string): void;
}

/** Assigns a step's context, then enqueues its effects in the order the step asked for them. */
export function apply(enqueue: Enqueuer, next: object, fx: readonly Effect[]): void {
  enqueue.assign(next);
  for (const effect of fx) {
    switch (effect.kind) {
      case 'send':
        enqueue.sendTo(effect.to, effect.event);
        break;
      case 'parent':
        enqueue.sendParent(effect.event);
        break;
      case 'spawn':
        enqueue.spawnChild(effect.src, { id: effect.id, input: effect.input });
        break;
      case 'stop':
        enqueue.stopChild(effect.id);
        break;
      case 'raise':
        // A delayed event whose id is still pending is not replaced by a new one: both would
        // fire (XSTATE-NOTES). Cancel first, always.
        enqueue.cancel(effect.id);
        enqueue.raise(effect.event, { delay: effect.delayMs, id: effect.id });
        break;
      case 'cancel':
        enqueue.cancel(effect.id);
        break;
      case 'call':
        enqueue(effect.run);
        break;
    }
  }
}

/** XState's enqueuer, seen through the narrow interface above. */
export function asEnqueuer(enqueue: unknown): Enqueuer {
  return enqueue as Enqueuer;
}
