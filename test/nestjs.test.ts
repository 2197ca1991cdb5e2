import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cron as NestCron, ScheduleModule } from '@nestjs/schedule';
import { AcquireTimeoutError, ConfigError, Leasehold, type JobContext } from '../src/index.js';
import { Cron, Every, Exclusive, LeaseholdJobContext, LeaseholdModule, OncePerSlot } from '../src/nestjs/index.js';
import { MemoryStore } from '../src/stores/memory/index.js';
import { decorate, injectInto } from './fixtures/nestjs-decorate.js';

// Decorators are applied with decorate() (see the fixture): the project's tsconfig has no
// experimentalDecorators. The fleet test runs the same module in real processes.

async function boot(imports: DynamicModule[], providers: unknown[]): Promise<INestApplicationContext> {
  class AppModule {}
  Module({ imports, providers: providers as never })(AppModule);
  return NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
}

it('@Every: the method runs each slot with its JobContext; the injectable context sees the token; close releases', async () => {
  const runs: { ctx: JobContext; seen: number }[] = [];
  class Audit {
    constructor(readonly context: LeaseholdJobContext) {}
  }
  class Ticker {
    constructor(readonly audit: Audit) {}
    async tick(ctx: JobContext) {
      runs.push({ ctx, seen: this.audit.context.token });
      await sleep(20, undefined, { signal: ctx.signal });
    }
  }
  injectInto(Audit, [LeaseholdJobContext]);
  injectInto(Ticker, [Audit]);
  decorate(Ticker, { tick: [Every('200ms', { ttl: '2s' })] });
  const store = new MemoryStore();
  const app = await boot([LeaseholdModule.forRoot({ store, holder: 'nest-a' })], [Audit, Ticker]);
  const lh = app.get(Leasehold);
  assert.deepEqual(
    lh.jobs.map((job) => job.key),
    ['Ticker.tick'],
  );
  await sleep(900);
  await app.close();
  assert.ok(runs.length >= 2, `runs: ${runs.length}`);
  for (const { ctx, seen } of runs) {
    assert.equal(ctx.key, 'Ticker.tick');
    assert.equal(ctx.slot.getTime() % 200, 0, 'slots are epoch-aligned');
    assert.equal(seen, ctx.token, 'LeaseholdJobContext.token is the run token');
  }
  assert.equal((await store.inspect('Ticker.tick'))?.holder ?? null, null, 'no lease held after close (S7)');
  assert.throws(() => new LeaseholdJobContext().token, /outside a leasehold run/);
});

it('@Cron with a timezone and a name; forRootAsync takes its options from an injected provider', async () => {
  const slots: Date[] = [];
  class Nightly {
    run(ctx: JobContext) {
      slots.push(ctx.slot);
    }
  }
  decorate(Nightly, { run: [Cron('* * * * * *', { timezone: 'Europe/Berlin', name: 'nightly' })] });
  const store = new MemoryStore();
  class Settings {
    readonly store = store;
  }
  class SettingsModule {}
  Module({ providers: [Settings], exports: [Settings] })(SettingsModule);
  const app = await boot(
    [
      LeaseholdModule.forRootAsync({
        imports: [SettingsModule],
        inject: [Settings],
        useFactory: async (settings: Settings) => ({ store: settings.store, grace: '1s' }),
      }),
    ],
    [Nightly],
  );
  assert.deepEqual(
    app.get(Leasehold).jobs.map((job) => job.key),
    ['nightly'],
  );
  await sleep(2300);
  await app.close();
  assert.ok(slots.length >= 1, 'ran');
  for (const slot of slots) assert.equal(slot.getTime() % 1000, 0);
});

it('@Exclusive: a second call while the first holds the key is skipped (undefined), waits with wait, throws with onBusy', async () => {
  class Reports {
    async build(label: string) {
      await sleep(300);
      return label;
    }
    async patient(label: string) {
      await sleep(100);
      return label;
    }
    async strict() {
      await sleep(300);
      return 'done';
    }
    async token(context: LeaseholdJobContext) {
      return context.lease?.token;
    }
  }
  decorate(Reports, {
    build: [Exclusive('report', { ttl: '2s' })],
    patient: [Exclusive('patient', { ttl: '2s', wait: '2s' })],
    strict: [Exclusive('strict', { ttl: '2s', onBusy: 'throw' })],
    token: [Exclusive('token', { ttl: '2s' })],
  });
  const store = new MemoryStore();
  const app = await boot([LeaseholdModule.forRoot({ store })], [Reports]);
  const reports = app.get(Reports);
  const [first, second] = await Promise.all([reports.build('a'), reports.build('b')]);
  assert.deepEqual([first, second], ['a', undefined], 'the overlapping call was skipped');
  assert.deepEqual(await Promise.all([reports.patient('a'), reports.patient('b')]), ['a', 'b'], 'wait lets both run');
  const [done, busy] = await Promise.allSettled([reports.strict(), reports.strict()]);
  assert.equal(done.status === 'fulfilled' && done.value, 'done');
  assert.ok(busy.status === 'rejected' && busy.reason instanceof AcquireTimeoutError);
  assert.equal(typeof (await reports.token(app.get(LeaseholdJobContext))), 'number', 'the lease is in the context');
  await app.close();
  assert.equal((await store.inspect('report'))?.holder ?? null, null);
});

it('bad options fail the app start with a ConfigError naming them', async () => {
  const store = new MemoryStore();
  await assert.rejects(boot([LeaseholdModule.forRoot({ store, url: 'memory:' })], []), /exactly one of store and url/);
  await assert.rejects(
    boot([LeaseholdModule.forRoot({ store, holdr: 'x' } as never)], []),
    (err: unknown) => err instanceof ConfigError && /holdr.*did you mean "holder"/.test(err.message),
  );
  class Broken {
    run() {}
  }
  decorate(Broken, { run: [Every('often')] });
  await assert.rejects(boot([LeaseholdModule.forRoot({ store })], [Broken]), ConfigError);
  class NoCron {
    run() {}
  }
  decorate(NoCron, { run: [OncePerSlot()] });
  await assert.rejects(boot([LeaseholdModule.forRoot({ store })], [NoCron]), /needs @Cron\(\) from @nestjs\/schedule/);
});

it('@OncePerSlot on @nestjs/schedule @Cron jobs: two apps on one store run each second once between them', async () => {
  const runs: { app: string; second: number; token: number | undefined }[] = [];
  const store = new MemoryStore();
  const apps: INestApplicationContext[] = [];
  for (const name of ['a', 'b']) {
    class Cleanup {
      constructor(readonly context: LeaseholdJobContext) {}
      async sweep() {
        runs.push({ app: name, second: Math.round(Date.now() / 1000), token: this.context.lease?.token });
        await sleep(50);
      }
    }
    injectInto(Cleanup, [LeaseholdJobContext]);
    // Both orders of the two decorators are supported; the apps use one each.
    const order =
      name === 'a'
        ? [NestCron('* * * * * *', { name: 'sweep' }), OncePerSlot()]
        : [OncePerSlot(), NestCron('* * * * * *', { name: 'sweep' })];
    decorate(Cleanup, { sweep: order });
    apps.push(
      await boot([ScheduleModule.forRoot(), LeaseholdModule.forRoot({ store, holder: `app-${name}` })], [Cleanup]),
    );
  }
  await sleep(4200);
  await Promise.all(apps.map((app) => app.close()));
  const perSecond = new Map<number, number>();
  for (const run of runs) perSecond.set(run.second, (perSecond.get(run.second) ?? 0) + 1);
  assert.ok(perSecond.size >= 3, `seconds run: ${perSecond.size}`);
  for (const [second, count] of perSecond) assert.equal(count, 1, `second ${second} ran ${count} times`);
  assert.ok(runs.every((run) => typeof run.token === 'number'));
  const tokens = runs.map((run) => run.token as number);
  assert.deepEqual(
    tokens,
    [...tokens].sort((x, y) => x - y),
    'each run has a higher token',
  );
  assert.equal((await store.inspect('sweep'))?.holder ?? null, null);
});

it('@OncePerSlot: a fire that comes after the slot ran and released elsewhere is still skipped', async () => {
  const store = new MemoryStore();
  let runs = 0;
  class Job {
    run() {
      runs++;
    }
  }
  decorate(Job, { run: [NestCron('0 0 1 1 *', { name: 'yearly', timeZone: 'UTC' }), OncePerSlot({ ttl: '2s' })] });
  const apps = [
    await boot([ScheduleModule.forRoot(), LeaseholdModule.forRoot({ store, holder: 'early' })], [Job]),
    await boot([ScheduleModule.forRoot(), LeaseholdModule.forRoot({ store, holder: 'late' })], [Job]),
  ];
  // Call the scheduled method by hand, as the cron would: both hosts, one after the other.
  const [early, late] = apps.map((app) => app.get(Job));
  await early?.run();
  await late?.run();
  await Promise.all(apps.map((app) => app.close()));
  assert.equal(runs, 1, 'the late host found the slot claimed in the fenced state');
  const state = (await store.inspect('yearly'))?.state as Record<string, unknown>;
  assert.match(String(state.slot), /-01-01T00:00:00\.000Z$/);
  assert.deepEqual({ ...state, slot: undefined }, { v: 1, slot: undefined, holder: 'early', token: 1, phase: 'ok' });
});
