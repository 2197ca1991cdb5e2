/**
 * Transactional runs (GUARANTEES T1): a store whose leases live in the same SQL database
 * as a job's data can run the job's writes in one transaction with the slot's end record.
 * The transaction commits only if, inside it, the run's lease is still current with its
 * token; a lost lease or a death before commit leaves none of the run's writes, and the
 * slot is re-run. The scheduler offers it to handlers as `ctx.transaction(fn)`.
 * See docs/fencing.md ("Transactional runs").
 * @module
 */
import type { JsonValue, LeaseRef, LeaseStore, StoreOpOptions } from './store.js';

/**
 * The optional store method behind `ctx.transaction`. Implemented by the PostgreSQL and
 * MySQL/MariaDB stores; a third-party SQL store may implement it too.
 */
export interface TransactionalStore {
  /**
   * Opens a transaction on a connection of the store's own database, runs `work(client)`
   * in it (`client`: the driver's connection, e.g. a `pg` client or a `mysql2`
   * connection), then — in the same transaction — checks that `ref` is still the key's
   * current lease by the store's clock and writes `endState()` as the key's state
   * (clearing its mark), and commits. When the lease is no longer current, it rolls back
   * and rejects with a `LeaseLostError`; when `work` rejects, it rolls back and rejects
   * with that error. Resolves to what `work` resolved to.
   */
  runInTransaction<T>(
    ref: LeaseRef,
    work: (client: unknown) => Promise<T>,
    endState: () => JsonValue,
    options?: StoreOpOptions,
  ): Promise<T>;
}

/** True when `store` can run transactional runs. */
export function isTransactional(store: LeaseStore): store is LeaseStore & TransactionalStore {
  return typeof (store as Partial<TransactionalStore>).runInTransaction === 'function';
}
