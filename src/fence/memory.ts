/**
 * A fence in this process's memory: for tests, and for a single server whose fence need
 * not outlive it (a restart forgets every token; see docs/fencing.md).
 * @module
 */
import { throwIfAborted } from '../store-kit/index.js';
import { checkResource, checkToken, type FenceCallOptions, type FenceStore, type FenceVerdict } from './common.js';

/** A {@link FenceStore} in a `Map`: one process, lost on restart. */
export class MemoryFence implements FenceStore {
  readonly #highest = new Map<string, number>();

  /** Records `token` unless a higher one was seen; synchronous underneath, so atomic. */
  async advance(resource: string, token: number, options?: FenceCallOptions): Promise<FenceVerdict> {
    throwIfAborted(options?.signal, `fence "${resource}"`);
    checkResource(resource);
    checkToken(token);
    const seen = this.#highest.get(resource) ?? -1;
    if (token < seen) return { accepted: false, highest: seen };
    this.#highest.set(resource, token);
    return { accepted: true, highest: token };
  }

  /** The highest token seen for `resource`, or undefined. */
  highest(resource: string): number | undefined {
    return this.#highest.get(resource);
  }
}
