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

/** A listener as registered: `once` ones are taken off before they are called. */
interface Registered {
  readonly listener: (...args: never[]) => void;
  readonly once: boolean;
}

/**
 * An event emitter whose `emit` never throws: listener exceptions and an `error`
 * event without listeners are sent to `onListenerError` instead of crashing a timer.
 *
 * Listeners run in the order they were added, as with Node's `EventEmitter`. Each event's
 * list is replaced, never changed, when a listener is added or removed, so `emit` walks
 * the list it found without copying it: events are emitted several times per scheduled
 * run, and the copy `EventEmitter` makes of a list per emit was garbage for every one.
 */
export class SafeEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  readonly #listeners = new Map<string, readonly Registered[]>();
  readonly #onListenerError: (err: unknown, event: string) => void;

  constructor(onListenerError: (err: unknown, event: string) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener. */
  on<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, listener, false);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, listener, true);
  }

  /** Removes a listener (the one added last, when it was added more than once). */
  off<K extends keyof Events & string>(event: K, listener: (...args: Events[K]) => void): this {
    let last: Registered | undefined;
    for (const registered of this.#listeners.get(event) ?? []) {
      if ((registered.listener as unknown) === listener) last = registered;
    }
    if (last) this.#remove(event, last);
    return this;
  }

  /** Number of listeners for `event`. */
  listenerCount<K extends keyof Events & string>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** @internal Emits without ever throwing. */
  emit<K extends keyof Events & string>(event: K, ...args: Events[K]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    for (const registered of list) {
      if (registered.once) this.#remove(event, registered);
      try {
        (registered.listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        this.#onListenerError(err, event);
      }
    }
  }

  #add(event: string, listener: unknown, once: boolean): this {
    if (typeof listener !== 'function') {
      throw new TypeError(`listener for "${event}": expected a function, got ${typeof listener}`);
    }
    const list = this.#listeners.get(event) ?? [];
    this.#set(event, [...list, { listener: listener as Registered['listener'], once }]);
    return this;
  }

  /** Takes `registered` off `event`'s list (into a new list), if it is still on it. */
  #remove(event: string, registered: Registered): void {
    const list = this.#listeners.get(event) ?? [];
    const at = list.indexOf(registered);
    if (at >= 0) this.#set(event, [...list.slice(0, at), ...list.slice(at + 1)]);
  }

  #set(event: string, list: readonly Registered[]): void {
    if (list.length === 0) this.#listeners.delete(event);
    else this.#listeners.set(event, list);
  }
}
