/**
 * The DynamoDB store's item layout and the one conditional request of each operation.
 * Item layout and why each condition is what it is: docs/stores/dynamodb.md, "Items".
 * @module
 */
import type { AttributeValue, UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { toToken } from '../../store-kit/index.js';

/** An item as the SDK carries it. */
export type Item = Record<string, AttributeValue>;

/** Attribute names, written through `ExpressionAttributeNames` so no reserved word is ever a problem. */
const ATTRIBUTES = {
  '#pk': 'pk',
  '#token': 'token',
  '#holder': 'holder',
  '#lease': 'leaseId',
  '#expires': 'expiresAt',
  '#state': 'state',
  '#mark': 'mark',
} as const;

/**
 * The attribute names an expression uses: DynamoDB refuses a request that declares a name
 * its expressions do not use.
 */
export function namesOf(...expressions: string[]): Record<string, string> {
  const text = expressions.join(' ');
  const out: Record<string, string> = {};
  for (const [placeholder, name] of Object.entries(ATTRIBUTES)) {
    if (new RegExp(`${placeholder}\\b`).test(text)) out[placeholder] = name;
  }
  return out;
}

/** One item's lease fields, decoded. */
export interface LeaseItem {
  /** Last token issued for the key. */
  readonly token: number;
  /** Present while a lease was granted and not released or broken (it may have expired). */
  readonly lease?: { readonly id: string; readonly holder: string; readonly expiresAt: number };
  /** The fenced state's JSON text, when ever written. */
  readonly state: string | undefined;
  /** The last grant's mark (JSON text); absent when none, cleared, or written before marks existed. */
  readonly mark: string | undefined;
}

/** Decodes an item; undefined when the key was never acquired (no item, or no token). */
export function decodeItem(item: Item | undefined, what: string): LeaseItem | undefined {
  const tokenText = item?.token?.N;
  if (!item || tokenText === undefined) return undefined;
  const token = toToken(tokenText, what);
  const id = item.leaseId?.S;
  const expiresAt = Number(item.expiresAt?.N);
  const lease =
    id !== undefined && Number.isFinite(expiresAt) ? { id, holder: item.holder?.S ?? '', expiresAt } : undefined;
  return { token, ...(lease ? { lease } : {}), state: item.state?.S, mark: item.mark?.S };
}

/** What every update of one key shares. */
export interface Target {
  readonly table: string;
  /** The partition key: the store's prefix and the lease key. */
  readonly pk: string;
}

/**
 * One conditional update. `ALL_OLD` returns the item as it was, whether the condition
 * passed (in `Attributes`) or failed (on the error, where the service supports it).
 */
function update(
  target: Target,
  updateExpression: string,
  condition: string,
  values: Item,
  returnValues: 'ALL_OLD' | 'NONE' = 'NONE',
): UpdateItemCommandInput {
  return {
    TableName: target.table,
    Key: { pk: { S: target.pk } },
    UpdateExpression: updateExpression,
    ConditionExpression: condition,
    ExpressionAttributeNames: namesOf(updateExpression, condition),
    ExpressionAttributeValues: values,
    ReturnValues: returnValues,
    // The item of a refused acquire is its busy answer; the other operations need only "refused".
    ...(returnValues === 'ALL_OLD' ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } : {}),
  };
}

const number = (value: number): AttributeValue => ({ N: String(value) });
const text = (value: string): AttributeValue => ({ S: value });

/** The lease is this one: its id and token. */
const OWNED = '#lease = :lease AND #token = :token';
/** A lease is recorded and has not expired by the sender's lower bound of the store's clock. */
const UNEXPIRED = '#expires >= :now';

/** A lease an acquire asks for; `mark` is the encoded start record a grant writes with it. */
export interface NewLease {
  readonly holder: string;
  readonly leaseId: string;
  readonly expiresAt: number;
  readonly mark: string | undefined;
}

/**
 * A new lease: granted when no lease is recorded, or the recorded one (another
 * acquisition's) has expired — `expiresAt` below the sender's lower bound of the store's
 * clock, so it has expired by the store's clock too. The token counter goes up by one;
 * an item that has none starts from `tokenBase` (store time in µs, so a deleted item's
 * key still gets higher tokens: docs). The mark, when given, is set in the same update.
 * Returns the item as it was, granted or refused: the caller derives the new token from
 * it ({@link grantedToken}) and answers with the mark it replaced.
 */
export function grantRequest(target: Target, lease: NewLease, now: number, tokenBase: number): UpdateItemCommandInput {
  const markSet = lease.mark === undefined ? '' : ', #mark = :mark';
  const leaseSet = '#holder = :holder, #lease = :lease, #expires = :expires';
  return update(
    target,
    `SET #token = if_not_exists(#token, :base) + :one, ${leaseSet}${markSet}`,
    'attribute_not_exists(#lease) OR (#lease <> :lease AND #expires < :now)',
    {
      ':base': number(tokenBase),
      ':one': number(1),
      ':holder': text(lease.holder),
      ':lease': text(lease.leaseId),
      ':expires': number(lease.expiresAt),
      ':now': number(now),
      ...(lease.mark === undefined ? {} : { ':mark': text(lease.mark) }),
    },
    'ALL_OLD',
  );
}

/** The token a {@link grantRequest} issued, from the item as it was: what `if_not_exists(…) + 1` computed. */
export function grantedToken(old: LeaseItem | undefined, tokenBase: number): number {
  return (old?.token ?? tokenBase) + 1;
}

/** Extends this lease to `expiresAt` (renew). */
export function extendRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  expiresAt: number,
): UpdateItemCommandInput {
  const values: Item = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':expires': number(expiresAt) };
  return update(target, 'SET #expires = :expires', OWNED, values);
}

/**
 * Acquire's retry with the same lease id (L9): extends the lease, sets the holder, and
 * sets the mark again when given. Returns the item as it was, for its state and mark.
 */
export function regrantRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  lease: NewLease,
): UpdateItemCommandInput {
  const values: Item = {
    ':lease': text(ref.leaseId),
    ':token': number(ref.token),
    ':expires': number(lease.expiresAt),
    ':holder': text(lease.holder),
    ...(lease.mark === undefined ? {} : { ':mark': text(lease.mark) }),
  };
  const markSet = lease.mark === undefined ? '' : ', #mark = :mark';
  return update(target, `SET #expires = :expires, #holder = :holder${markSet}`, OWNED, values, 'ALL_OLD');
}

/**
 * Ends this lease if it has not expired; the token stays. With `state` (the fused
 * release) the state is replaced and the mark removed in the same update; without, both stay.
 */
export function releaseRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  now: number,
  state?: string,
): UpdateItemCommandInput {
  const values: Item = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':now': number(now) };
  const condition = `${OWNED} AND ${UNEXPIRED}`;
  if (state === undefined) return update(target, 'REMOVE #holder, #lease, #expires', condition, values);
  values[':state'] = text(state);
  return update(target, 'SET #state = :state REMOVE #holder, #lease, #expires, #mark', condition, values);
}

/** Replaces the state and removes the mark if this lease is still the key's. */
export function writeStateRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  state: string,
): UpdateItemCommandInput {
  const values = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':state': text(state) };
  return update(target, 'SET #state = :state REMOVE #mark', OWNED, values);
}

/** Ends whatever unexpired lease the key has; the token and state stay. */
export function breakRequest(target: Target, now: number): UpdateItemCommandInput {
  const condition = `attribute_exists(#lease) AND ${UNEXPIRED}`;
  return update(target, 'REMOVE #holder, #lease, #expires', condition, { ':now': number(now) });
}

/** A strongly consistent read of one key's item (`pk` is also what `now()` reads, for the reply's date). */
export function getRequest(target: Target) {
  return { TableName: target.table, Key: { pk: text(target.pk) }, ConsistentRead: true };
}

/** Every attribute a record is read from: what `inspectAll` projects. */
const RECORD_ATTRIBUTES = '#pk, #token, #holder, #lease, #expires, #state, #mark';

/**
 * One page of a strongly consistent scan for the items that carry a token and start with
 * `prefix`: their partition keys only (`list()`), or every attribute a record needs
 * (`inspectAll`).
 */
export function scanRequest(table: string, prefix: string, start: Item | undefined, records = false) {
  const filter = prefix === '' ? 'attribute_exists(#token)' : 'attribute_exists(#token) AND begins_with(#pk, :prefix)';
  const projection = records ? RECORD_ATTRIBUTES : '#pk';
  return {
    TableName: table,
    ConsistentRead: true,
    ProjectionExpression: projection,
    FilterExpression: filter,
    ExpressionAttributeNames: namesOf(projection, filter),
    ...(prefix === '' ? {} : { ExpressionAttributeValues: { ':prefix': text(prefix) } }),
    ...(start ? { ExclusiveStartKey: start } : {}),
  };
}
