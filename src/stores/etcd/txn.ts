/**
 * The transactions behind each operation, built and read here so the store reads as
 * the protocol: which compare guards which write. Why each guard: docs/stores/etcd.md.
 * @module
 */
import { decodeState } from '../../store-kit/index.js';
import type { JsonValue, LeaseRef } from '../../store.js';
import type { EtcdKeys } from './keys.js';
import type { Compare, KeyValue, RequestOp, TxnRequest, TxnResponse } from './rpc.js';

const get = (key: Buffer): RequestOp => ({ request_range: { key } });

/** The guard "the lease key is this acquisition's": created by its acquire (token) and holding its leaseId. */
export function isOurs(keys: EtcdKeys, ref: LeaseRef): Compare[] {
  return [
    { key: keys.lease, target: 'Create', result: 'Equal', create_revision: String(ref.token) },
    { key: keys.lease, target: 'Value', result: 'Equal', value: Buffer.from(ref.leaseId) },
  ];
}

/**
 * Acquire: when the lease key does not exist (never leased, released, broken, or deleted
 * by its etcd lease's expiry), create it on `etcdLease` and record the holder; either
 * way read what the answer needs. The token is the transaction's revision.
 */
export function acquireTxn(keys: EtcdKeys, holder: string, leaseId: string, etcdLease: string): TxnRequest {
  return {
    compare: [{ key: keys.lease, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [
      { request_put: { key: keys.lease, value: Buffer.from(leaseId), lease: etcdLease } },
      { request_put: { key: keys.marker, value: Buffer.from(holder) } },
      get(keys.state),
    ],
    failure: [get(keys.lease), get(keys.marker), get(keys.state)],
  };
}

/** Reads all three keys of a lease key in one request (a transaction without a guard). */
export function readTxn(keys: EtcdKeys): TxnRequest {
  return { compare: [], success: [get(keys.lease), get(keys.marker), get(keys.state)], failure: [] };
}

/** The three keys a {@link readTxn} or a failed {@link acquireTxn} read. */
export interface ReadKeys {
  readonly lease: KeyValue | undefined;
  readonly marker: KeyValue | undefined;
  readonly state: JsonValue | null;
}

/** The key value the `index`th range of a transaction's answer found. */
export function rangeAt(answer: TxnResponse, index: number): KeyValue | undefined {
  return answer.responses[index]?.response_range?.kvs[0];
}

/** The fenced state the `index`th range of a transaction's answer found (null when none). */
export function stateAt(answer: TxnResponse, index: number): JsonValue | null {
  return decodeState(rangeAt(answer, index)?.value.toString('utf8'));
}

/** Reads the three ranges of {@link readTxn} (or of {@link acquireTxn}'s failure branch). */
export function readKeys(answer: TxnResponse): ReadKeys {
  return {
    lease: rangeAt(answer, 0),
    marker: rangeAt(answer, 1),
    state: stateAt(answer, 2),
  };
}

/** Renew's check, a transaction that only compares: is the lease key still this acquisition's? */
export function checkTxn(keys: EtcdKeys, ref: LeaseRef): TxnRequest {
  return { compare: isOurs(keys, ref), success: [], failure: [] };
}

/** Fenced state write: only while the lease key is still this acquisition's. */
export function writeStateTxn(keys: EtcdKeys, ref: LeaseRef, state: string): TxnRequest {
  return {
    compare: isOurs(keys, ref),
    success: [{ request_put: { key: keys.state, value: Buffer.from(state) } }],
    failure: [],
  };
}

/** Release: delete the lease key if it is still this acquisition's; marker and state stay. */
export function releaseTxn(keys: EtcdKeys, ref: LeaseRef): TxnRequest {
  return { compare: isOurs(keys, ref), success: [{ request_delete_range: { key: keys.lease } }], failure: [] };
}

/** Break: delete the lease key if it is still the one read (by its create revision). */
export function breakTxn(keys: EtcdKeys, createRevision: string): TxnRequest {
  return {
    compare: [{ key: keys.lease, target: 'Create', result: 'Equal', create_revision: createRevision }],
    success: [{ request_delete_range: { key: keys.lease } }],
    failure: [],
  };
}
