import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../src/index.js';
import { CronSchedule, IntervalSchedule } from '../src/schedule.js';

const T = (s: string) => Date.parse(s);
const I = (t: number | undefined) => (t === undefined ? 'none' : new Date(t).toISOString());

describe('interval slots (S1)', () => {
  it('are aligned to the Unix epoch, whenever a host starts', () => {
    const s = new IntervalSchedule('5m');
    assert.equal(I(s.atOrBefore(T('2026-11-23T10:07:31.123Z'))), '2026-11-23T10:05:00.000Z');
    assert.equal(I(s.after(T('2026-11-23T10:07:31.123Z'))), '2026-11-23T10:10:00.000Z');
    assert.equal(
      I(s.atOrBefore(T('2026-11-23T10:05:00.000Z'))),
      '2026-11-23T10:05:00.000Z',
      'a slot instant is its own slot',
    );
    assert.equal(I(s.after(T('2026-11-23T10:05:00.000Z'))), '2026-11-23T10:10:00.000Z');
    const hostA = new IntervalSchedule(2000);
    const hostB = new IntervalSchedule('2s');
    assert.equal(hostA.after(T('2026-01-01T00:00:00.400Z')), hostB.after(T('2026-01-01T00:00:01.900Z')));
  });
  it('take an offset, shorter than the interval', () => {
    const s = new IntervalSchedule('1h', '15m');
    assert.equal(I(s.atOrBefore(T('2026-11-23T10:07:00Z'))), '2026-11-23T09:15:00.000Z');
    assert.equal(I(s.after(T('2026-11-23T10:07:00Z'))), '2026-11-23T10:15:00.000Z');
    assert.throws(() => new IntervalSchedule('1m', '1m'), ConfigError);
    assert.throws(() => new IntervalSchedule('0s'), /interval: duration must be positive/);
    assert.throws(() => new IntervalSchedule('often'), /interval: invalid duration "often"/);
  });
});

describe('cron slots with IANA timezones', () => {
  it('Europe/Berlin spring forward: a 02:30 job runs once, at 03:00 CEST, on the day 02:30 does not exist', () => {
    const s = new CronSchedule('30 2 * * *', 'Europe/Berlin');
    const runs: string[] = [];
    let t = T('2026-03-27T12:00:00Z');
    for (let i = 0; i < 4; i++) {
      t = s.after(t) as number;
      runs.push(I(t));
    }
    assert.deepEqual(runs, [
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
  });
  it('Europe/Berlin fall back: a 02:30 job runs once on the day 02:30 happens twice', () => {
    const s = new CronSchedule('30 2 * * *', 'Europe/Berlin');
    const runs: string[] = [];
    let t = T('2026-10-24T12:00:00Z');
    for (let i = 0; i < 3; i++) {
      t = s.after(t) as number;
      runs.push(I(t));
    }
    assert.equal(runs.length, new Set(runs).size);
    assert.deepEqual(runs.filter((r) => r.startsWith('2026-10-25')).length, 1);
    assert.equal(runs[0], '2026-10-25T00:30:00.000Z');
    assert.equal(runs[1], '2026-10-26T01:30:00.000Z');
  });
  it('America/New_York: hourly at :30 across spring forward and fall back', () => {
    const s = new CronSchedule('30 * * * *', 'America/New_York');
    // Spring forward 2026-03-08: 02:30 local does not exist; UTC spacing stays one hour.
    let t = T('2026-03-08T05:00:00Z'); // 00:00 EST
    const spring: number[] = [];
    for (let i = 0; i < 4; i++) {
      t = s.after(t) as number;
      spring.push(t);
    }
    assert.deepEqual(spring.map(I), [
      '2026-03-08T05:30:00.000Z',
      '2026-03-08T06:30:00.000Z',
      '2026-03-08T07:30:00.000Z',
      '2026-03-08T08:30:00.000Z',
    ]);
    // Fall back 2026-11-01: 01:30 local happens twice; a daily 01:30 job runs once.
    const daily = new CronSchedule('30 1 * * *', 'America/New_York');
    assert.equal(I(daily.after(T('2026-11-01T00:00:00Z'))), '2026-11-01T05:30:00.000Z');
    assert.equal(I(daily.after(T('2026-11-01T05:30:00Z'))), '2026-11-02T06:30:00.000Z');
  });
  it('atOrBefore counts the instant itself and finds the previous slot', () => {
    const s = new CronSchedule('*/15 * * * *');
    assert.equal(I(s.atOrBefore(T('2026-11-23T10:15:00.000Z'))), '2026-11-23T10:15:00.000Z');
    assert.equal(I(s.atOrBefore(T('2026-11-23T10:29:59.999Z'))), '2026-11-23T10:15:00.000Z');
    const sec = new CronSchedule('*/2 * * * * *');
    assert.equal(I(sec.atOrBefore(T('2026-11-23T10:15:03.500Z'))), '2026-11-23T10:15:02.000Z');
  });
  it('bad expressions and timezones are ConfigErrors naming them', () => {
    assert.throws(() => new CronSchedule('every day'), /cron: invalid expression "every day"/);
    // croner would take a 7th field as a year, and the job would then never fire.
    assert.throws(() => new CronSchedule('0 0 * * * * 2030'), /^ConfigError: cron: invalid expression .*: 7 fields;/);
    assert.throws(
      () => new CronSchedule('* * * * *', 'Mars/Olympus'),
      /timezone: unknown IANA timezone "Mars\/Olympus"/,
    );
  });
});
