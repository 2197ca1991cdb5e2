/**
 * The transactions behind each operation, built and read here so the store reads as
 * the protocol: which compare guards which write. Why each guard: docs/stores/etcd.md.
 * @module
 */
import { decodeState } from '../../store-kit/index.js';
import type { JsonValue, LeaseRef } from '../../store.js';
import { type EtcdKeys, keyIn, NAMESPACES, rangeEnd } from './keys.js';
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
 * by its etcd lease's expiry), create it on `etcdLease`, record the holder and, when
 * given, write `mark`; either way read what the answer needs, the mark before it is
 * written. When the key exists and is this acquisition's (a retry whose first attempt
 * landed, L9), a nested transaction writes `mark` again, in the same request. The token
 * is the transaction's revision.
 */
export function acquireTxn(keys: EtcdKeys, acquisition: Acquisition): TxnRequest {
  const { holder, leaseId, etcdLease, mark } = acquisition;
  const putMark: RequestOp[] =
    mark === undefined ? [] : [{ request_put: { key: keys.mark, value: Buffer.from(mark) } }];
  const ours: Compare[] = [
    { key: keys.lease, target: 'Value', result: 'Equal', value: Buffer.from(leaseId) },
    { key: keys.lease, target: 'Lease', result: 'Equal', lease: etcdLease },
  ];
  const retry: RequestOp[] =
    mark === undefined ? [] : [{ request_txn: { compare: ours, success: putMark, failure: [] } }];
  return {
    compare: [{ key: keys.lease, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [
      { request_put: { key: keys.lease, value: Buffer.from(leaseId), lease: etcdLease } },
      { request_put: { key: keys.marker, value: Buffer.from(holder) } },
      get(keys.state),
      get(keys.mark),
      ...putMark,
    ],
    failure: [...readOps(keys), ...retry],
  };
}

/** What {@link acquireTxn} writes: who, which acquisition, on which etcd lease, and the serialized mark if any. */
export interface Acquisition {
  readonly holder: string;
  readonly leaseId: string;
  readonly etcdLease: string;
  readonly mark: string | undefined;
}

/** The four reads of a lease key's etcd keys, in {@link readKeys}' order. */
function readOps(keys: EtcdKeys): RequestOp[] {
  return [get(keys.lease), get(keys.marker), get(keys.state), get(keys.mark)];
}

/** Reads all four keys of a lease key in one request (a transaction without a guard). */
export function readTxn(keys: EtcdKeys): TxnRequest {
  return { compare: [], success: readOps(keys), failure: [] };
}

/** The four keys a {@link readTxn} or a failed {@link acquireTxn} read. */
export interface ReadKeys {
  readonly lease: KeyValue | undefined;
  readonly marker: KeyValue | undefined;
  readonly state: JsonValue | null;
  readonly mark: JsonValue | null;
}

/** The key value the `index`th range of a transaction's answer found. */
export function rangeAt(answer: TxnResponse, index: number): KeyValue | undefined {
  return answer.responses[index]?.response_range?.kvs[0];
}

/** The fenced state the `index`th range of a transaction's answer found (null when none). */
export function stateAt(answer: TxnResponse, index: number): JsonValue | null {
  return decodeState(rangeAt(answer, index)?.value.toString('utf8'));
}

/** Reads the four ranges of {@link readTxn} (or of {@link acquireTxn}'s failure branch). */
export function readKeys(answer: TxnResponse): ReadKeys {
  return {
    lease: rangeAt(answer, 0),
    marker: rangeAt(answer, 1),
    state: stateAt(answer, 2),
    mark: stateAt(answer, 3),
  };
}

/** Renew's check, a transaction that only compares: is the lease key still this acquisition's? */
export function checkTxn(keys: EtcdKeys, ref: LeaseRef): TxnRequest {
  return { compare: isOurs(keys, ref), success: [], failure: [] };
}

/** A state write: the state replaced and the mark deleted (a start record's end was written). */
function writeOps(keys: EtcdKeys, state: string): RequestOp[] {
  return [
    { request_put: { key: keys.state, value: Buffer.from(state) } },
    { request_delete_range: { key: keys.mark } },
  ];
}

/** Fenced state write, clearing the mark: only while the lease key is still this acquisition's. */
export function writeStateTxn(keys: EtcdKeys, ref: LeaseRef, state: string): TxnRequest {
  return { compare: isOurs(keys, ref), success: writeOps(keys, state), failure: [] };
}

/**
 * Release: delete the lease key if it is still this acquisition's, and with `state` (the
 * fused release) write it and clear the mark in the same step; otherwise marker, state
 * and mark stay.
 */
export function releaseTxn(keys: EtcdKeys, ref: LeaseRef, state: string | undefined): TxnRequest {
  const write = state === undefined ? [] : writeOps(keys, state);
  return {
    compare: isOurs(keys, ref),
    success: [{ request_delete_range: { key: keys.lease } }, ...write],
    failure: [],
  };
}

/** Break: delete the lease key if it is still the one read (by its create revision). */
export function breakTxn(keys: EtcdKeys, createRevision: string): TxnRequest {
  return {
    compare: [{ key: keys.lease, target: 'Create', result: 'Equal', create_revision: createRevision }],
    success: [{ request_delete_range: { key: keys.lease } }],
    failure: [],
  };
}

/**
 * Reads every etcd key of the lease keys starting with `keyPrefix`, one range per
 * namespace, in one request (a transaction without a guard, so the four ranges are one
 * consistent view).
 */
export function inspectAllTxn(prefix: string, keyPrefix: string): TxnRequest {
  const success = NAMESPACES.map((namespace): RequestOp => {
    const key = Buffer.from(`${prefix}${namespace}${keyPrefix}`);
    return { request_range: { key, range_end: rangeEnd(key) } };
  });
  return { compare: [], success, failure: [] };
}

/** The etcd keys of one lease key found by {@link inspectAllTxn}, as {@link readKeys} gives them for one. */
export interface FoundKeys extends ReadKeys {
  readonly key: string;
}

/** Groups the answer of {@link inspectAllTxn} by lease key: those with a marker (ever acquired). */
export function foundKeys(prefix: string, answer: TxnResponse): FoundKeys[] {
  const found = new Map<string, { lease?: KeyValue; marker?: KeyValue; state?: KeyValue; mark?: KeyValue }>();
  const fields = ['lease', 'marker', 'state', 'mark'] as const;
  NAMESPACES.forEach((namespace, index) => {
    for (const kv of answer.responses[index]?.response_range?.kvs ?? []) {
      const key = keyIn(prefix, namespace, kv.key);
      const entry = found.get(key) ?? {};
      entry[fields[index] as (typeof fields)[number]] = kv;
      found.set(key, entry);
    }
  });
  const text = (kv: KeyValue | undefined) => decodeState(kv?.value.toString('utf8'));
  return [...found]
    .filter(([, entry]) => entry.marker !== undefined)
    .map(([key, entry]) => ({
      key,
      lease: entry.lease,
      marker: entry.marker,
      state: text(entry.state),
      mark: text(entry.mark),
    }));
}
