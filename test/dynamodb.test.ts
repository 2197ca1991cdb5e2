import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { deadlineMargin, holderDeadline } from '../src/defaults.js';
import { ConfigError, StoreUnavailableError } from '../src/errors.js';
import { Leasehold } from '../src/leasehold.js';
import { openStore } from '../src/open.js';
import { StoreClock } from '../src/stores/dynamodb/clock.js';
import { DynamoDbStore, parseDynamoDbUrl } from '../src/stores/dynamodb/index.js';
import { DYNALITE_SECRET, type DynaliteServer, startDynalite } from './helpers/dynalite-server.js';
import { freePort } from './helpers/ports.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const table = `unit-${randomUUID().slice(0, 8)}`;
const req = (key: string, holder = 'h', leaseId: string = randomUUID(), ttlMs = 5000) => ({
  key,
  holder,
  leaseId,
  ttlMs,
});

let server: DynaliteServer;
before(async () => {
  server = await startDynalite();
});
after(async () => {
  await server?.stop();
});

const newStore = (extra: object = {}) =>
  new DynamoDbStore({
    table,
    createTable: true,
    prefix: `p-${randomUUID().slice(0, 6)}:`,
    ...server.storeOptions,
    ...extra,
  });

/** Asserts a one-line StoreUnavailableError that holds no secret, in its message, stack or inspected form. */
function oneLineUnavailable(e: unknown): true {
  assert.ok(e instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(e)}`);
  assert.ok(!e.message.includes('\n'), `not one line: ${JSON.stringify(e.message)}`);
  for (const text of [e.message, String(e.stack), inspect(e, { depth: 10 })]) {
    assert.ok(!text.includes(DYNALITE_SECRET), `secret leaked: ${text}`);
  }
  return true;
}

describe('requests per operation', () => {
  it('acquire, renew, writeState, release, inspect, forceRelease: one request each, the clock known', async () => {
    const client = new DynamoDBClient({
      ...server.storeOptions,
      credentials: { accessKeyId: 'test', secretAccessKey: 'x' },
    });
    const sent: string[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName).replace(/Command$/, ''));
        return next(args);
      },
      { step: 'initialize', name: 'countRequests' },
    );
    const store = new DynamoDbStore({ table, createTable: true, client });
    try {
      const count = async <T>(work: () => Promise<T>): Promise<{ result: T; requests: string[] }> => {
        sent.length = 0;
        const result = await work();
        return { result, requests: [...sent] };
      };
      const first = await count(() => store.now());
      assert.deepEqual(first.requests.slice(-1), ['GetItem'], 'now() is one read (after creating the table)');
      const key = `count-${randomUUID()}`;
      const leaseId = randomUUID();
      const granted = await count(() => store.acquire(req(key, 'a', leaseId)));
      assert.deepEqual(granted.requests, ['UpdateItem']);
      assert.ok(granted.result.acquired);
      if (!granted.result.acquired) return;
      const ref = { key, leaseId, token: granted.result.token };
      assert.deepEqual((await count(() => store.renew({ ...ref, ttlMs: 5000 }))).requests, ['UpdateItem']);
      assert.deepEqual((await count(() => store.writeState({ ...ref, state: { n: 1 } }))).requests, ['UpdateItem']);
      assert.deepEqual((await count(() => store.inspect(key))).requests, ['GetItem']);
      const retried = await count(() => store.acquire(req(key, 'a', leaseId)));
      assert.deepEqual(retried.requests, ['UpdateItem', 'GetItem', 'UpdateItem'], 'a retry (L9), on dynalite');
      assert.ok(retried.result.acquired && retried.result.token === ref.token);
      // dynalite ignores ReturnValuesOnConditionCheckFailure: the busy answer needs a read there, not on DynamoDB.
      const busy = await count(() => store.acquire(req(key, 'b')));
      assert.deepEqual(busy.requests, ['UpdateItem', 'GetItem']);
      assert.equal(busy.result.acquired, false);
      if (!busy.result.acquired) {
        assert.equal(busy.result.holder, 'a');
        assert.ok((busy.result.expiresInMs ?? 0) > 3000, `expiresInMs ${busy.result.expiresInMs}`);
        assert.deepEqual(busy.result.state, { n: 1 });
      }
      assert.deepEqual((await count(() => store.release(ref))).requests, ['UpdateItem']);
      const held = await store.acquire(req(key, 'c'));
      assert.ok(held.acquired);
      assert.deepEqual((await count(() => store.forceRelease(key))).requests, ['UpdateItem']);

      // A slot's two requests: acquire with its start record, release with its end record.
      const slotId = randomUUID();
      const start = await count(() => store.acquire({ ...req(key, 'd', slotId), mark: { slot: 's1' } }));
      assert.deepEqual(start.requests, ['UpdateItem'], 'a grant with a mark is one request');
      assert.ok(start.result.acquired);
      if (!start.result.acquired) return;
      assert.deepEqual(start.result.state, { n: 1 }, 'the grant answers the state as it was');
      const slotRef = { key, leaseId: slotId, token: start.result.token };
      const end = await count(() => store.release({ ...slotRef, state: { lastSlot: 's1' } }));
      assert.deepEqual(end.requests, ['UpdateItem'], 'a release with state is one request');
      assert.equal(end.result, true);
      const all = await count(() => store.inspectAll({ prefix: key }));
      assert.deepEqual(all.requests, ['Scan'], 'inspectAll is one scan on a table under 1 MB');
      assert.deepEqual(
        all.result.map(({ key: found, state, mark }) => ({ found, state, mark })),
        [{ found: key, state: { lastSlot: 's1' }, mark: null }],
      );
    } finally {
      await store.close();
      client.destroy();
    }
  });
});

describe('clock', () => {
  it('bounds from Date headers hold the true clock, whatever the phase of the second, and tighten', () => {
    const clock = new StoreClock();
    const offset = 123_456.7; // store clock minus host clock
    let host = 1_000_000;
    for (let i = 0; i < 40; i++) {
      const sentAt = host;
      const receivedAt = host + 3 + (i % 5);
      const madeAt = sentAt + 1 + (i % 3); // the service made the reply during the round trip
      const date = Math.floor((madeAt + offset) / 1000) * 1000;
      clock.observe(date, sentAt, receivedAt);
      const now = receivedAt + 10;
      assert.ok(clock.lower(now) <= now + offset, `lower ${clock.lower(now)} > ${now + offset}`);
      assert.ok(clock.upper(now) > now + offset, `upper ${clock.upper(now)} <= ${now + offset}`);
      host += 137; // a different phase of the second each time
    }
    const width = clock.upper(host) - clock.lower(host);
    assert.ok(width < 50, `after 40 samples the bounds are ${width}ms apart`);
  });

  it('another store never takes a lease over before the holder-side deadline of its holder', async () => {
    const other = newStore();
    // The holder's client is warm, its store's clock empty: its one sample below is the worst case.
    const client = new DynamoDBClient({
      ...server.storeOptions,
      credentials: { accessKeyId: 'test', secretAccessKey: 'x' },
    });
    const holder = new DynamoDbStore({ table, prefix: other.prefix, client });
    try {
      const key = `deadline-${randomUUID()}`;
      // The other store's bounds are tight: reads spread over a second's phases.
      for (let i = 0; i < 10; i++) {
        await other.now();
        await sleep(100);
      }
      await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: 'warm' } } }));
      // The holder's one sample is dated just before the second ticks over (dynalite runs on
      // this host's clock): its Date is almost a second behind.
      while (Date.now() % 1000 < 960) await sleep(2);
      await holder.now();
      const ttlMs = 1500;
      const sentAt = performance.now();
      const granted = await holder.acquire(req(key, 'a', randomUUID(), ttlMs));
      assert.ok(granted.acquired);
      const deadline = holderDeadline(sentAt, ttlMs);
      let takenAt: number | undefined;
      while (takenAt === undefined) {
        const attempt = await other.acquire(req(key, 'b', randomUUID(), ttlMs));
        if (attempt.acquired) takenAt = performance.now();
        else await sleep(20);
      }
      assert.ok(takenAt >= deadline + deadlineMargin(ttlMs) / 2, `taken ${takenAt - deadline}ms after the deadline`);
      assert.ok(takenAt - sentAt < ttlMs + 2500, `takeover after ${Math.round(takenAt - sentAt)}ms`);
    } finally {
      await holder.close();
      await other.close();
      client.destroy();
    }
  });
});

describe('tokens and items', () => {
  it('release and break keep the item and its counter; a deleted item restarts above the old tokens', async () => {
    const store = newStore();
    const client = new DynamoDBClient({
      ...server.storeOptions,
      credentials: { accessKeyId: 'test', secretAccessKey: 'x' },
    });
    try {
      const key = `item-${randomUUID()}`;
      const leaseId = randomUUID();
      const first = await store.acquire(req(key, 'a', leaseId));
      assert.ok(first.acquired);
      if (!first.acquired) return;
      assert.ok(Number.isSafeInteger(first.token) && first.token > 1e15, `token ${first.token} is based on µs`);
      await store.release({ key, leaseId, token: first.token });
      const read = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: store.prefix + key } } }));
      assert.equal(read.Item?.token?.N, String(first.token), 'the counter stays after release');
      assert.equal(read.Item?.leaseId, undefined);
      const { DeleteItemCommand } = await import('@aws-sdk/client-dynamodb');
      await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: { S: store.prefix + key } } }));
      await sleep(2500); // the clock's uncertainty (docs: delete only keys idle that long)
      const again = await store.acquire(req(key, 'a'));
      assert.ok(again.acquired && again.token > first.token, 'tokens increase across clean-up');
    } finally {
      await store.close();
      client.destroy();
    }
  });

  it('an item written before marks existed reads with a null mark, and a grant adds one', async () => {
    const store = newStore();
    const client = new DynamoDBClient({
      ...server.storeOptions,
      credentials: { accessKeyId: 'test', secretAccessKey: 'x' },
    });
    try {
      const key = `old-${randomUUID()}`;
      const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
      // The previous version's layout: a released key with a counter and a state, no mark attribute.
      const oldItem = { pk: { S: store.prefix + key }, token: { N: '1796159483034615' }, state: { S: '{"n":0}' } };
      await client.send(new PutItemCommand({ TableName: table, Item: oldItem }));
      const before = await store.inspect(key);
      assert.deepEqual(before, {
        key,
        holder: null,
        token: 1796159483034615,
        expiresInMs: null,
        state: { n: 0 },
        mark: null,
      });
      const leaseId = randomUUID();
      const granted = await store.acquire({ ...req(key, 'a', leaseId), mark: { slot: 's1' } });
      assert.ok(granted.acquired);
      if (!granted.acquired) return;
      assert.equal(granted.token, 1796159483034616, 'the counter goes on from the old item');
      assert.deepEqual([granted.state, granted.mark], [{ n: 0 }, null]);
      assert.deepEqual((await store.inspect(key))?.mark, { slot: 's1' });
      const read = await client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: store.prefix + key } } }));
      assert.equal(read.Item?.mark?.S, '{"slot":"s1"}', 'the mark is an attribute of its own beside the state');
      assert.equal(await store.writeState({ key, leaseId, token: granted.token, state: { n: 1 } }), true);
      const cleared = await client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: store.prefix + key } } }),
      );
      assert.equal(cleared.Item?.mark, undefined, 'writeState removes the attribute');
    } finally {
      await store.close();
      client.destroy();
    }
  });

  it('inspectAll pages through a scan larger than 1 MB and keeps to the prefix', async () => {
    const client = new DynamoDBClient({
      ...server.storeOptions,
      credentials: { accessKeyId: 'test', secretAccessKey: 'x' },
    });
    let scans = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand') scans += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countScans' },
    );
    const store = new DynamoDbStore({ table, createTable: true, client, prefix: `p-${randomUUID().slice(0, 6)}:` });
    const other = newStore();
    try {
      const base = `big-${randomUUID().slice(0, 8)}/`;
      const pad = 'x'.repeat(60 * 1024);
      const keys = Array.from({ length: 20 }, (_unused, index) => `${base}${String(index).padStart(2, '0')}`);
      for (const key of keys) {
        const leaseId = randomUUID();
        const granted = await store.acquire({ ...req(key, 'h', leaseId), mark: { key } });
        assert.ok(granted.acquired);
        if (!granted.acquired) return;
        await store.writeState({ key, leaseId, token: granted.token, state: { pad } });
        await store.acquire({ ...req(key, 'h', leaseId), mark: { key } }); // the mark again (L9 retry)
      }
      // The same key under another store prefix, in the same table: not this store's.
      assert.ok((await other.acquire(req(keys[0] as string, 'o'))).acquired);
      const records = await store.inspectAll({ prefix: base });
      assert.ok(scans >= 2, `${scans} scan requests: 1.2 MB of items take more than one page`);
      assert.deepEqual(records.map((record) => record.key).sort(), keys, 'every key, once, over several pages');
      for (const record of records) {
        assert.equal(record.holder, 'h');
        assert.deepEqual(record.mark, { key: record.key });
        assert.equal((record.state as { pad: string }).pad.length, pad.length);
      }
    } finally {
      await store.close();
      await other.close();
      client.destroy();
    }
  });

  it('a key too long for a partition key, or with a lone surrogate, is a ConfigError naming it', async () => {
    const store = newStore();
    try {
      await assert.rejects(
        store.acquire(req('é'.repeat(1100))),
        (e: unknown) => e instanceof ConfigError && /2048/.test(e.message),
      );
      await assert.rejects(store.inspect('a\uD800b'), ConfigError);
      await assert.rejects(store.acquire(req('k', 'h', randomUUID(), 999)), /at least 1000ms/);
    } finally {
      await store.close();
    }
  });
});

describe('options and URLs', () => {
  it('unknown or bad options are ConfigErrors naming the option, never a secret', () => {
    const base = { table, ...server.storeOptions };
    assert.throws(() => new DynamoDbStore({ ...base, timeoutMs: 5 } as never), /unknown option "timeoutMs"/);
    assert.throws(() => new DynamoDbStore({ ...base, requestTimeoutMs: -1 }), /requestTimeoutMs/);
    assert.throws(() => new DynamoDbStore({ ...base, table: 'a' }), /table must be 3-255/);
    assert.throws(() => new DynamoDbStore({ ...base, region: 'Not A Region' }), /region/);
    assert.throws(() => new DynamoDbStore({ ...base, endpoint: 'ftp://x' }), /endpoint/);
    assert.throws(() => new DynamoDbStore({ ...base, createTable: 'yes' as never }), /createTable/);
    assert.throws(
      () => new DynamoDbStore({ table, secretAccessKey: DYNALITE_SECRET }),
      (e: unknown) => e instanceof ConfigError && /together/.test(e.message) && !e.message.includes(DYNALITE_SECRET),
    );
    const client = new DynamoDBClient({ region: 'us-east-1' });
    assert.throws(() => new DynamoDbStore({ table, client, region: 'us-east-1' }), /not with client/);
    client.destroy();
  });

  it('parses dynamodb:// URLs; bad ones are one-line ConfigErrors with the secret masked', async () => {
    const parsed = parseDynamoDbUrl(
      'dynamodb://My_Table.1?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000' +
        '&requestTimeoutMs=900&createTable=true',
      { prefix: 'app:' },
    );
    assert.deepEqual(parsed, {
      table: 'My_Table.1',
      prefix: 'app:',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:8000',
      requestTimeoutMs: 900,
      createTable: true,
    });
    const secret = `dynamodb://t1x?region=us-east-1&accessKeyId=AK&secretAccessKey=${DYNALITE_SECRET}`;
    for (const [url, pattern] of [
      [`${secret}&regoin=x`, /unknown parameter "regoin".*did you mean "region"/],
      [`${secret}&requestTimeoutMs=soon`, /requestTimeoutMs.*"soon"/],
      [`${secret}&createTable=yes`, /createTable.*"yes"/],
      ['dynamodb://?region=us-east-1', /names no table/],
      ['dynamodb://t1x/path', /has a path/],
      [`dynamodb://user:${DYNALITE_SECRET}@t1x`, /must not carry credentials/],
    ] as const) {
      await assert.rejects(openStore(url), (e: unknown) => {
        assert.ok(e instanceof ConfigError, `${url}: ${String(e)}`);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes(DYNALITE_SECRET) && !e.message.includes('\n'), e.message);
        return true;
      });
    }
  });

  it('openStore opens dynamodb: URLs; the store works and closes its client', async () => {
    const store = await openStore(server.url(table), { prefix: `url-${randomUUID().slice(0, 6)}:` });
    try {
      assert.equal(store.name, 'dynamodb');
      const lh = new Leasehold({ store });
      const lease = await lh.tryAcquire('through-url', { ttl: '2s' });
      assert.ok(lease);
      assert.deepEqual(await store.list(), ['through-url']);
      assert.equal(await lease?.release(), true);
    } finally {
      await store.close();
    }
  });
});

describe('store down', () => {
  it('a closed port is one line, StoreUnavailableError, quickly, secret masked', async () => {
    const store = newStore({ endpoint: `http://127.0.0.1:${await freePort()}` });
    const started = performance.now();
    await assert.rejects(store.acquire(req('k')), oneLineUnavailable);
    await assert.rejects(store.inspect('k'), oneLineUnavailable);
    assert.ok(performance.now() - started < 4000, `took ${Math.round(performance.now() - started)}ms`);
    await store.close();
  });

  it('a black-holed server (SIGSTOP) fails at requestTimeoutMs, then recovers', async () => {
    const own = await startDynalite();
    const store = new DynamoDbStore({ table, createTable: true, ...own.storeOptions, requestTimeoutMs: 700 });
    try {
      const lease = await store.acquire(req('stopped', 'a'));
      assert.ok(lease.acquired);
      await own.pause();
      const started = performance.now();
      await assert.rejects(store.inspect('stopped'), (e: unknown) => oneLineUnavailable(e) && /700ms/.test(String(e)));
      const took = performance.now() - started;
      assert.ok(took >= 650 && took < 2000, `took ${Math.round(took)}ms`);
      await own.resume();
      assert.equal((await store.inspect('stopped'))?.holder, 'a');
    } finally {
      await own.resume();
      await store.close();
      await own.stop();
    }
  });

  it('a missing table without createTable says so, one line', async () => {
    const store = new DynamoDbStore({ table: `missing-${randomUUID().slice(0, 8)}`, ...server.storeOptions });
    await assert.rejects(store.inspect('k'), (e: unknown) => oneLineUnavailable(e) && /createTable/.test(String(e)));
    await store.close();
  });
});
