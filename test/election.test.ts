import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type Demotion, type LeaderContext, Leasehold, LeaseLostError } from '../src/index.js';
import { formatStatus, readStatus } from '../src/cli/admin.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { FakeClock, FaultyStore } from '../src/testing/index.js';

const TTL = 3000;
const POLL = 300; // defaultPoll(3000): ttl / 10

/** Campaigners on one memory store, each through its own FaultyStore, all on one fake clock. */
function fleet(count: number) {
  const clock = new FakeClock();
  const inner = new MemoryStore({ clock });
  return {
    clock,
    inner,
    members: Array.from({ length: count }, (_, i) => {
      const store = new FaultyStore(inner);
      return { store, lh: new Leasehold({ store, clock, holder: `p${i}` }) };
    }),
  };
}

/** Campaigns with hooks that record what they were told. */
function campaign(lh: Leasehold, key = 'leader') {
  const elected: LeaderContext[] = [];
  const demoted: Demotion[] = [];
  const election = lh.elect(key, {
    ttl: TTL,
    onElected: (ctx) => {
      elected.push(ctx);
    },
    onDemoted: (demotion) => {
      demoted.push(demotion);
    },
  });
  return { election, elected, demoted };
}

describe('leader election (fake clock, memory store)', () => {
  it('elects one campaigner; resign() hands over within about one poll, to a higher token', async () => {
    const { clock, inner, members } = fleet(3);
    const campaigns = members.map((m) => campaign(m.lh));
    await clock.advance(1);
    const leaders = campaigns.filter((c) => c.election.isLeader);
    assert.equal(leaders.length, 1, 'exactly one leader');
    const first = leaders[0];
    assert.ok(first);
    assert.equal(first.elected.length, 1);
    const ctx = first.elected[0] as LeaderContext;
    assert.equal(ctx.held, true);
    assert.equal((await inner.inspect('leader'))?.holder, ctx.holder, 'the store names the leader');
    const status = await readStatus(inner, 'leader');
    assert.deepEqual(
      [status.keys[0]?.held, status.keys[0]?.holder, status.keys[0]?.token],
      [true, ctx.holder, ctx.token],
    );
    assert.match(
      formatStatus(status),
      new RegExp(`^leader\n  holder        ${ctx.holder} \\(token ${ctx.token}, expires in`),
    );
    await clock.advance(TTL * 3); // renewals keep the term
    assert.equal(ctx.signal.aborted, false);
    assert.equal(campaigns.filter((c) => c.elected.length > 0).length, 1, 'nobody else was elected meanwhile');

    await first.election.resign();
    assert.equal(ctx.signal.aborted, true);
    assert.deepEqual(first.demoted, [{ reason: 'resigned', token: ctx.token }]);
    const resignedAt = clock.now();
    const ok = await clock.advanceUntil(
      () => campaigns.some((c) => c !== first && c.election.isLeader),
      POLL * 1.25 + 5,
    );
    assert.ok(ok, 'another campaigner was elected within one poll');
    const next = campaigns.find((c) => c.election.isLeader)?.elected[0] as LeaderContext;
    assert.ok(next.token > ctx.token, `token ${next.token} after ${ctx.token}`);
    assert.ok(clock.now() - resignedAt <= POLL * 1.25 + 5);
    await clock.advance(POLL * 5);
    assert.equal(first.elected.length, 1, 'a resigned campaigner campaigns no more');
    for (const m of members) await m.lh.stop();
    assert.equal(clock.pending, 0, 'no timers left after stop()');
    assert.equal((await inner.inspect('leader'))?.holder ?? null, null, 'stop() leaves no leader');
  });

  it('at a long TTL the default poll still hands over within 1 s of a resign (issue 17)', async () => {
    const { clock, members } = fleet(2);
    const [a, b] = members;
    assert.ok(a && b);
    const long = { ttl: '15s', onElected: () => {} };
    const first = a.lh.elect('long', long);
    await clock.advance(1);
    const second = b.lh.elect('long', long);
    await clock.advance(1);
    assert.equal(first.isLeader, true);
    const resignedAt = clock.now();
    await first.resign();
    // The pause is at most 500 ms × 1.25 (ttl/10 would be 1.5 s; defaultPoll's cap 1 s × 1.25).
    assert.ok(await clock.advanceUntil(() => second.isLeader, 1000, 5), 'elected within 1 s of the resign');
    assert.ok(clock.now() - resignedAt <= 630, `elected ${clock.now() - resignedAt}ms after the resign`);
    await b.lh.stop();
  });

  it('a leader whose renewals stall is told before its deadline, then another is elected and it campaigns again', async () => {
    const { clock, members } = fleet(2);
    const [a, b] = members;
    assert.ok(a && b);
    const first = campaign(a.lh);
    await clock.advance(1);
    const second = campaign(b.lh);
    await clock.advance(1);
    assert.equal(first.election.isLeader, true);
    const ctx = first.elected[0] as LeaderContext;
    const deadline = ctx.lease.deadline;
    let abortedAt = -1;
    ctx.signal.addEventListener('abort', () => {
      abortedAt = clock.now();
    });
    a.store.modes.renew = 'stall';
    a.store.modes.acquire = 'stall';
    await clock.advanceUntil(() => second.election.isLeader, TTL * 2, 10);
    assert.ok(abortedAt >= 0 && abortedAt < deadline, `aborted at ${abortedAt}, deadline ${deadline}`);
    assert.ok(ctx.signal.reason instanceof LeaseLostError);
    assert.equal(first.demoted[0]?.reason, 'lost');
    const next = second.elected[0] as LeaderContext;
    assert.ok(next.token > ctx.token);
    // The old leader campaigns again: when the new one resigns, it can win back.
    delete a.store.modes.renew;
    delete a.store.modes.acquire;
    await second.election.resign();
    assert.ok(await clock.advanceUntil(() => first.election.isLeader, TTL * 2, 10), 're-elected after a loss');
    assert.ok((first.elected[1] as LeaderContext).token > next.token);
    await a.lh.stop();
    await b.lh.stop();
  });

  it('keeps campaigning through a store outage, reporting errors, and is elected once it is back', async () => {
    const { clock, members } = fleet(1);
    const [a] = members;
    assert.ok(a);
    const errors: string[] = [];
    a.lh.on('error', (e) => errors.push(e.during));
    a.store.modes.acquire = 'fail';
    const c = campaign(a.lh);
    await clock.advance(POLL * 5);
    assert.equal(c.election.isLeader, false);
    assert.ok(errors.filter((d) => d === 'campaign').length >= 3, `errors: ${errors.join(',')}`);
    a.store.modes.acquire = 'pass';
    assert.ok(await clock.advanceUntil(() => c.election.isLeader, POLL * 2, 10));
    await c.election.resign();
    assert.equal(clock.pending, 0);
  });

  it('a failing onElected resigns the term and campaigning goes on', async () => {
    const { clock, members } = fleet(1);
    const [a] = members;
    assert.ok(a);
    const tokens: number[] = [];
    const demoted: Demotion[] = [];
    const election = a.lh.elect('k', {
      ttl: TTL,
      onElected: async (ctx) => {
        tokens.push(ctx.token);
        if (tokens.length === 1) throw new Error('could not start');
      },
      onDemoted: (d) => {
        demoted.push(d);
      },
    });
    await clock.advanceUntil(() => tokens.length === 2, POLL * 3, 10);
    assert.equal(demoted[0]?.reason, 'failed');
    assert.equal(tokens.length, 2);
    assert.ok((tokens[1] as number) > (tokens[0] as number));
    assert.equal(election.isLeader, true);
    await election[Symbol.asyncDispose]();
    assert.equal(election.isLeader, false);
    assert.equal(demoted[1]?.reason, 'resigned');
  });

  it('refuses unknown and invalid options before any store request', async () => {
    const { members } = fleet(1);
    const [a] = members;
    assert.ok(a);
    const bad: [unknown, RegExp][] = [
      [{ ttl: TTL, onElect: () => {} }, /unknown option "onElect" \(did you mean "onElected"\?\)/],
      [{ ttl: TTL, pollIntervall: 10 }, /did you mean "pollInterval"/],
      [{ ttl: -1 }, /ttl/],
      [{ ttl: TTL, onDemoted: 'no' }, /onDemoted must be a function/],
      [{ ttl: TTL, pollInterval: 'soon' }, /pollInterval/],
      [undefined, /options object is required/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => a.lh.elect('k', options as never),
        (err: unknown) => {
          return err instanceof ConfigError && message.test(err.message);
        },
      );
    }
    assert.throws(() => a.lh.elect('', { ttl: TTL }), ConfigError);
    assert.equal(a.store.calls.acquire, 0, 'no store request was made');
  });
});
