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
  return { token, ...(lease ? { lease } : {}), state: item.state?.S };
}

/** What every update of one key shares. */
export interface Target {
  readonly table: string;
  /** The partition key: the store's prefix and the lease key. */
  readonly pk: string;
}

function update(
  target: Target,
  updateExpression: string,
  condition: string,
  values: Item,
  returnValues: 'ALL_NEW' | 'NONE' = 'NONE',
): UpdateItemCommandInput {
  return {
    TableName: target.table,
    Key: { pk: { S: target.pk } },
    UpdateExpression: updateExpression,
    ConditionExpression: condition,
    ExpressionAttributeNames: namesOf(updateExpression, condition),
    ExpressionAttributeValues: values,
    ReturnValues: returnValues,
    // The state of a refused acquire is its busy answer; the other operations need only "refused".
    ...(returnValues === 'ALL_NEW' ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } : {}),
  };
}

const number = (value: number): AttributeValue => ({ N: String(value) });
const text = (value: string): AttributeValue => ({ S: value });

/** The lease is this one: its id and token. */
const OWNED = '#lease = :lease AND #token = :token';
/** A lease is recorded and has not expired by the sender's lower bound of the store's clock. */
const UNEXPIRED = '#expires >= :now';

/**
 * A new lease: granted when no lease is recorded, or the recorded one (another
 * acquisition's) has expired — `expiresAt` below the sender's lower bound of the store's
 * clock, so it has expired by the store's clock too. The token counter goes up by one;
 * an item that has none starts from `tokenBase` (store time in µs, so a deleted item's
 * key still gets higher tokens: docs). Returns the new item, or the old one when refused.
 */
export function grantRequest(
  target: Target,
  lease: { holder: string; leaseId: string; expiresAt: number },
  now: number,
  tokenBase: number,
): UpdateItemCommandInput {
  return update(
    target,
    'SET #token = if_not_exists(#token, :base) + :one, #holder = :holder, #lease = :lease, #expires = :expires',
    'attribute_not_exists(#lease) OR (#lease <> :lease AND #expires < :now)',
    {
      ':base': number(tokenBase),
      ':one': number(1),
      ':holder': text(lease.holder),
      ':lease': text(lease.leaseId),
      ':expires': number(lease.expiresAt),
      ':now': number(now),
    },
    'ALL_NEW',
  );
}

/**
 * Extends this lease to `expiresAt` (renew; and acquire's retry with the same lease id,
 * L9, which also sets the holder and returns the item for its state).
 */
export function extendRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  expiresAt: number,
  holder?: string,
): UpdateItemCommandInput {
  const values: Item = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':expires': number(expiresAt) };
  if (holder === undefined) return update(target, 'SET #expires = :expires', OWNED, values);
  values[':holder'] = text(holder);
  return update(target, 'SET #expires = :expires, #holder = :holder', OWNED, values, 'ALL_NEW');
}

/** Ends this lease if it has not expired; the token and state stay. */
export function releaseRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  now: number,
): UpdateItemCommandInput {
  const values = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':now': number(now) };
  return update(target, 'REMOVE #holder, #lease, #expires', `${OWNED} AND ${UNEXPIRED}`, values);
}

/** Replaces the state if this lease is still the key's. */
export function writeStateRequest(
  target: Target,
  ref: { leaseId: string; token: number },
  state: string,
): UpdateItemCommandInput {
  const values = { ':lease': text(ref.leaseId), ':token': number(ref.token), ':state': text(state) };
  return update(target, 'SET #state = :state', OWNED, values);
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

/** One page of `list()`: the partition keys of the items that carry a token and start with `prefix`. */
export function scanRequest(table: string, prefix: string, start: Item | undefined) {
  const filter = prefix === '' ? 'attribute_exists(#token)' : 'attribute_exists(#token) AND begins_with(#pk, :prefix)';
  return {
    TableName: table,
    ConsistentRead: true,
    ProjectionExpression: '#pk',
    FilterExpression: filter,
    ExpressionAttributeNames: namesOf('#pk', filter),
    ...(prefix === '' ? {} : { ExpressionAttributeValues: { ':prefix': text(prefix) } }),
    ...(start ? { ExclusiveStartKey: start } : {}),
  };
}
