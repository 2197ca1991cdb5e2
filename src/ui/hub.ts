/**
 * One reader of the store for every viewer of the status page: reads are shared (a page
 * load, the JSON, /metrics and every open event stream use the same read while it is
 * fresh), and the store is read on a timer only while some page is watching.
 * @module
 */
import type { StatusDocument } from '../cli/admin.js';
import { errorText } from '../store-kit/index.js';

/** One read of the store, or the last good one and why the latest failed. */
export interface Snapshot {
  /** The last document read; undefined until a read succeeded. */
  readonly doc: StatusDocument | undefined;
  /** The latest read's error, one line, cleaned of credentials; undefined when it succeeded. */
  readonly error: string | undefined;
  /** Monotonic time (performance.now()) of the read `doc` came from. */
  readonly readAt: number;
}

/** A listener of every new snapshot. */
export type SnapshotListener = (snapshot: Snapshot) => void;

/** Shares reads of the store among the page's viewers. */
export class StatusHub {
  readonly #read: () => Promise<StatusDocument>;
  readonly #refreshMs: number;
  readonly #clean: (text: string) => string;
  readonly #listeners = new Set<SnapshotListener>();
  #snapshot: Snapshot | undefined;
  /** Monotonic time of the latest attempt, successful or not. */
  #attemptAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<Snapshot> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * @param read - one read of the store (readStatus)
   * @param refreshMs - how often watchers get a new read; a read younger than half of it is reused
   * @param clean - removes credentials from error text
   */
  constructor(read: () => Promise<StatusDocument>, refreshMs: number, clean: (text: string) => string) {
    this.#read = read;
    this.#refreshMs = refreshMs;
    this.#clean = clean;
  }

  /** A snapshot no older than half the refresh interval: the last one, or a new read. */
  current(): Promise<Snapshot> {
    const fresh = performance.now() - this.#attemptAt < this.#refreshMs / 2;
    if (this.#snapshot && fresh) return Promise.resolve(this.#snapshot);
    return this.#readNow();
  }

  /**
   * Calls `listener` with every new snapshot, one refresh interval from now and every
   * interval after, until the returned function is called. (A new viewer takes its first
   * snapshot from {@link current}.)
   */
  subscribe(listener: SnapshotListener): () => void {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#arm(this.#refreshMs);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#disarm();
    };
  }

  /** Number of open subscriptions (event streams). */
  get watchers(): number {
    return this.#listeners.size;
  }

  /** Stops the timer and drops every listener. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#disarm();
  }

  #readNow(): Promise<Snapshot> {
    this.#inFlight ??= this.#attempt().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #attempt(): Promise<Snapshot> {
    const started = performance.now();
    let next: Snapshot;
    try {
      next = { doc: await this.#read(), error: undefined, readAt: started };
    } catch (err) {
      const previous = this.#snapshot;
      next = { doc: previous?.doc, error: this.#clean(errorText(err)), readAt: previous?.readAt ?? started };
    }
    this.#attemptAt = started;
    this.#snapshot = next;
    return next;
  }

  #arm(delayMs: number): void {
    if (this.#closed) return;
    this.#disarm();
    // unref: an embedding app's exit never waits on the page's timer.
    this.#timer = setTimeout(() => void this.#tick(), delayMs).unref();
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    const snapshot = await this.current();
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch {
        // A listener's failure (a stream that closed) is its own business; the others go on.
      }
    }
    if (this.#listeners.size > 0) this.#arm(this.#refreshMs);
  }
}
