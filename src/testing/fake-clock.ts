import type { Clock } from '../clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A manual clock for unit tests of timing logic. Time moves only when you call
 * {@link FakeClock.advance}; timers due on the way fire in order, and pending promise
 * callbacks run between them.
 */
export class FakeClock implements Clock {
  #now = 0;
  #wallBase: number;
  #seq = 0;
  #timers: Timer[] = [];

  /** @param wallStart - wall-clock epoch ms at monotonic 0 */
  constructor(wallStart = Date.UTC(2026, 0, 1)) {
    this.#wallBase = wallStart;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): number {
    return this.#wallBase + this.#now;
  }

  /** Moves the wall clock by `ms` without moving monotonic time (a clock step). */
  stepWall(ms: number): void {
    this.#wallBase += ms;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Lets pending promise callbacks and I/O callbacks run. */
  async flush(rounds = 5): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /** Advances time by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await this.flush();
    for (;;) {
      const next = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
      await this.flush();
    }
    this.#now = target;
    await this.flush();
  }

  /** Advances until `predicate()` is true or `maxMs` passes, in `stepMs` steps. */
  async advanceUntil(predicate: () => boolean, maxMs: number, stepMs = 1): Promise<boolean> {
    const end = this.#now + maxMs;
    while (!predicate()) {
      if (this.#now >= end) return false;
      await this.advance(Math.min(stepMs, end - this.#now));
    }
    return true;
  }
}
