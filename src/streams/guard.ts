import { config } from 'rxjs';

/**
 * RxJS catches an exception thrown by a subscriber and, by default, rethrows it on a timer, where
 * it becomes an uncaughtException that ends the process. A feed must outlive a faulty strategy,
 * so while any manager is alive the exception is handed to the managers instead (as a
 * `subscriber-threw` fault on `telemetry$`). The subscriber stays subscribed and the Subject keeps
 * delivering to everyone else: RxJS already isolates subscribers; only the rethrow is replaced.
 */

type Handler = (error: unknown) => void;

const listeners = new Set<Handler>();
let previous: ((error: unknown) => void) | null = null;
let installed = false;

function dispatch(error: unknown): void {
  for (const listener of listeners) listener(error);
  // A handler someone installed before us still hears about it.
  previous?.(error);
}

/** Routes subscriber exceptions to `handler` until the returned function is called. */
export function guardSubscribers(handler: Handler): () => void {
  if (!installed) {
    previous = config.onUnhandledError;
    config.onUnhandledError = dispatch;
    installed = true;
  }
  listeners.add(handler);
  return () => {
    listeners.delete(handler);
    if (listeners.size === 0 && config.onUnhandledError === dispatch) {
      config.onUnhandledError = previous;
      installed = false;
    }
  };
}
