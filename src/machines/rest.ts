import { fromPromise } from 'xstate';

/**
 * The actor that performs one REST GET and hands back what came, whatever the status: an HTTP
 * error is an answer for the caller to judge (src/exchanges/okx/rest.ts), not a failure. Only a
 * request that got no answer (refused, reset, DNS, timeout) fails the actor, which reaches the
 * parent as `xstate.error.actor.<id>` carrying a `RestRequestError`.
 *
 * Stopping the actor (leaving the state that invoked it) aborts the request through the signal
 * `fromPromise` provides, so a request never outlives the state that wanted it.
 */

export interface RestRequest {
  readonly url: string;
  /**
   * Abort after this long. This is a wall-clock timer (`AbortSignal.timeout`), outside the
   * injected clock: a machine that must be driven by a simulated clock leaves it out and owns the
   * timeout as a delayed transition out of the invoking state, which aborts the same way.
   */
  readonly timeoutMs?: number;
  /** Extra request headers (OKX demo: `x-simulated-trading: 1`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RestResponse {
  readonly status: number;
  /** The `Retry-After` header as sent, for `parseRetryAfterMs`. */
  readonly retryAfter: string | null;
  /** The body parsed as JSON; undefined when it is empty or not JSON. */
  readonly body: unknown;
}

/** Why a request got no answer: `timeout` (our `timeoutMs`) or `network` (everything else). */
export type RestFailureReason = 'timeout' | 'network';

export class RestRequestError extends Error {
  override readonly name = 'RestRequestError';

  constructor(
    readonly reason: RestFailureReason,
    readonly url: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RestDeps {
  /** Node's global `fetch` unless given (tests pass a stub). */
  readonly fetch?: typeof fetch;
}

export function createRestLogic(deps: RestDeps = {}) {
  const request = deps.fetch ?? globalThis.fetch;
  return fromPromise<RestResponse, RestRequest>(async ({ input, signal }) => {
    const { url, timeoutMs } = input;
    const timeout =
      timeoutMs !== undefined && timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    try {
      const response = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json', ...input.headers },
        signal: timeout === undefined ? signal : AbortSignal.any([signal, timeout]),
      });
      // The body is read under the same signal: a stop or timeout mid-body aborts it too.
      const text = await response.text();
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: parseJson(text),
      };
    } catch (error) {
      // A stopped actor reports nothing; XState drops the rejection of a stopped promise.
      if (signal.aborted) throw error;
      const reason: RestFailureReason = timeout?.aborted === true ? 'timeout' : 'network';
      const message =
        reason === 'timeout'
          ? `GET ${url} timed out after ${timeoutMs} ms`
          : `GET ${url} failed: ${describe(error)}`;
      throw new RestRequestError(reason, url, message, { cause: error });
    }
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** undici hides the socket error in `cause` ("fetch failed" ← ECONNREFUSED). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = 'code' in cause && typeof cause.code === 'string' ? `${cause.code} ` : '';
    return `${error.message} (${code}${cause.message})`;
  }
  return error.message;
}
