import { EventEmitter } from 'node:events';

/**
 * A logger that pino, bunyan-style loggers and `console` all satisfy: each method is
 * called as `(fields, message)`.
 */
export interface Logger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Payload of the `error` event: a store request failed (a renewal that will be retried, a release…). */
export interface StoreErrorEvent {
  /** The key of the request, when it had one. */
  key?: string;
  /** What the store or the request threw. */
  error: unknown;
  /** What was being done: `renew`, `schedule`, `record run`… */
  during: string;
}

/** A logger that drops everything; the default. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Calls one logger method, swallowing anything the logger throws. */
export function safeLog(logger: Logger, level: keyof Logger, fields: object, msg: string): void {
  try {
    const fn = logger[level];
    if (typeof fn === 'function') fn.call(logger, fields, msg);
  } catch {
    // A broken logger must not break leases.
  }
}

/**
 * An EventEmitter whose `emit` never throws: listener exceptions and an `error`
 * event without listeners are sent to `onListenerError` instead of crashing a timer.
 */
export class SafeEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  readonly #ee = new EventEmitter();
  readonly #onListenerError: (err: unknown, event: string) => void;

  constructor(onListenerError: (err: unknown, event: string) => void) {
    this.#onListenerError = onListenerError;
    this.#ee.setMaxListeners(0);
  }

  /** Adds a listener. */
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#ee.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Adds a listener called at most once. */
  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#ee.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    this.#ee.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Number of listeners for `event`. */
  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#ee.listenerCount(event);
  }

  /** @internal Emits without ever throwing. */
  emit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    if (event === 'error' && this.#ee.listenerCount('error') === 0) return;
    for (const listener of this.#ee.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        this.#onListenerError(err, event);
      }
    }
    // rawListeners returns once-wrappers that remove themselves when called.
  }
}
