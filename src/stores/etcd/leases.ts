/**
 * etcd leases, the store's clock: grant, one keep-alive, revoke, time to live. etcd counts
 * a lease's TTL down on the leader; the keys attached to it are deleted when it runs out.
 * Why TTLs are whole seconds and at least 2 s: docs/stores/etcd.md ("TTL").
 * @module
 */
import { StoreUnavailableError } from '../../errors.js';
import type { CallOptionsLike, EtcdClientLike, KeepAliveResponse } from './rpc.js';

/** etcd's answer when a lease does not exist (expired, revoked, never granted). */
const NOT_FOUND = /lease not found/i;
/** etcd's answer when granting an id that exists: a retry of an acquisition whose grant landed. */
const EXISTS = /lease already exists/i;

/** etcd lease TTLs are whole seconds: a TTL in ms rounded up, so the store never holds a lease shorter than asked. */
export function ttlSeconds(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / 1000));
}

/** True when `err` is etcd saying the lease does not exist. */
export function isLeaseNotFound(err: unknown): boolean {
  return err instanceof Error && NOT_FOUND.test(err.message);
}

/**
 * Grants the etcd lease `id` for `ttlMs` (rounded up to seconds; etcd raises a TTL below
 * its minimum, which only makes the store hold longer than the holder believes). An id
 * that already exists is a retry's own grant, and is used as it is.
 */
export async function grant(
  client: EtcdClientLike,
  id: string,
  ttlMs: number,
  options: CallOptionsLike,
): Promise<void> {
  try {
    await client.leaseClient.leaseGrant({ TTL: ttlSeconds(ttlMs), ID: id }, options);
  } catch (err) {
    if (!(err instanceof Error && EXISTS.test(err.message))) throw err;
  }
}

/**
 * Sends one keep-alive for lease `id` on a stream of its own and answers whether the
 * lease was extended (false when etcd says it is gone). The stream is cancelled after
 * the answer, or when the deadline passes.
 */
export async function keepAliveOnce(client: EtcdClientLike, id: string, options: CallOptionsLike): Promise<boolean> {
  const stream = await client.leaseClient.leaseKeepAlive(options);
  try {
    const answer = await new Promise<KeepAliveResponse>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ ID: id });
    });
    return Number(answer.TTL) > 0;
  } finally {
    stream.on('error', () => {}); // the cancellation below is reported as an error
    stream.cancel();
  }
}

/** Revokes lease `id` (deleting what is attached to it); false when it was already gone. */
export async function revoke(client: EtcdClientLike, id: string, options: CallOptionsLike): Promise<boolean> {
  try {
    await client.leaseClient.leaseRevoke({ ID: id }, options);
    return true;
  } catch (err) {
    if (isLeaseNotFound(err)) return false;
    throw err;
  }
}

/**
 * Time left on lease `id` by etcd's count, in ms (etcd answers in whole seconds, rounded
 * down); null when the lease is gone. A lease that ran out but whose keys the leader has
 * not deleted yet answers 0: the key still looks held, as acquire sees it. etcd answers
 * TTL -1 for a lease it does not know.
 */
export async function timeLeft(client: EtcdClientLike, id: string, options: CallOptionsLike): Promise<number | null> {
  try {
    const answer = await client.leaseClient.leaseTimeToLive({ ID: id }, options);
    const seconds = Number(answer.TTL);
    if (!Number.isFinite(seconds)) throw new StoreUnavailableError(`etcd answered a lease TTL that is not a number`);
    return seconds < 0 ? null : seconds * 1000;
  } catch (err) {
    if (isLeaseNotFound(err)) return null;
    throw err;
  }
}
