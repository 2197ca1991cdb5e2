/**
 * The slice of etcd's v3 gRPC API the store sends, typed structurally (as `etcd3`'s raw
 * `kv` and `leaseClient` expose it: 64-bit numbers as decimal strings, keys and values
 * as Buffers), so the published types do not depend on the SDK's.
 * @module
 */

/** Per-call gRPC options: the store passes an absolute deadline (epoch ms). */
export interface CallOptionsLike {
  deadline?: number;
}

/** One stored key, as etcd returns it. */
export interface KeyValue {
  key: Buffer;
  value: Buffer;
  /** Revision of the write that created the key (since it last did not exist). */
  create_revision: string;
  /** Revision of the last write to the key. */
  mod_revision: string;
  /** The etcd lease the key is attached to, '0' for none. */
  lease: string;
}

/** Every response's header: `revision` is the store's revision after the request. */
export interface ResponseHeader {
  revision: string;
}

/** A range (read) request. */
export interface RangeRequest {
  key: Buffer;
  range_end?: Buffer;
  limit?: number;
  keys_only?: boolean;
}

/** A range response. */
export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
}

/** One operation of a transaction; `request_txn` nests a transaction (etcd 3.3 and later). */
export interface RequestOp {
  request_range?: RangeRequest;
  request_put?: { key: Buffer; value: Buffer; lease?: string };
  request_delete_range?: { key: Buffer };
  request_txn?: TxnRequest;
}

/** One comparison of a transaction's guard. */
export interface Compare {
  key: Buffer;
  result: 'Equal' | 'NotEqual' | 'Greater' | 'Less';
  target: 'Create' | 'Mod' | 'Value' | 'Lease' | 'Version';
  create_revision?: string | number;
  value?: Buffer;
  lease?: string;
}

/** A transaction: `success` runs when every comparison holds, `failure` otherwise. */
export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

/** A transaction's answer: one response per operation of the branch that ran. */
export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: { response_range?: RangeResponse; response_txn?: TxnResponse }[];
}

/** A keep-alive (lease renewal) answer: `TTL` '0' when the lease is gone. */
export interface KeepAliveResponse {
  ID: string;
  TTL: string;
}

/** The bidirectional keep-alive stream. */
export interface KeepAliveStream {
  write(request: { ID: string }): void;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (response: KeepAliveResponse) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** What the store uses of an `Etcd3` client from the `etcd3` package (1.x): its raw KV and lease RPCs. */
export interface EtcdClientLike {
  readonly kv: {
    range(request: RangeRequest, options?: CallOptionsLike): Promise<RangeResponse>;
    txn(request: TxnRequest, options?: CallOptionsLike): Promise<TxnResponse>;
  };
  readonly leaseClient: {
    leaseGrant(request: { TTL: number; ID: string }, options?: CallOptionsLike): Promise<{ ID: string; TTL: string }>;
    leaseRevoke(request: { ID: string }, options?: CallOptionsLike): Promise<unknown>;
    leaseKeepAlive(options?: CallOptionsLike): Promise<KeepAliveStream>;
    leaseTimeToLive(request: { ID: string }, options?: CallOptionsLike): Promise<{ TTL: string }>;
  };
  close(): void;
}
