/**
 * The benchmark: `npm run bench -- [--store redis,postgres,…] [--quick] [--json PATH] [--only ops,peers,post,fleet,failover]`
 *
 * Everything runs against servers on this machine: its Redis (isolated key prefix),
 * PostgreSQL and MariaDB (a fresh database each, dropped at the end), and an Azurite
 * started from node_modules. Absolute times on a shared machine are noise, so every
 * comparison is a ratio measured in the same run. See docs/performance.md.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchFailover } from './failover.js';
import { benchFleet } from './fleet.js';
import { Figures, fmt, loadAverage } from './lib.js';
import { benchOps } from './ops.js';
import { benchPeers } from './peers.js';
import { benchPost } from './post.js';
import { ALL_STORES, openTarget, Servers, type StoreName } from './targets.js';

const SECTIONS = ['ops', 'peers', 'post', 'fleet', 'failover'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  stores: StoreName[];
  quick: boolean;
  json?: string;
  only: Section[];
  /** Fleet: jobs per process and measured slots (defaults: 1000 and 20; quick 50 and 3). */
  jobs?: number;
  slots?: number;
  /** Fleet: the jobs' period in seconds (default 1). */
  period?: number;
  /** Fleet: processes, with `jobs` (default 3). */
  processes?: number;
  /** Fleet: runs of history each job starts with (default: a full history, as a job has after 20 slots; 0: fresh keys). */
  history?: number;
}

/** The fleet section's numeric options. */
const FLEET_NUMBERS = ['jobs', 'slots', 'period', 'processes'] as const;

function parseArgs(argv: string[]): Args {
  let stores: StoreName[] = [...ALL_STORES];
  let quick = false;
  let json: string | undefined;
  let only: Section[] = [...SECTIONS];
  const out: Partial<Args> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const val = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new Error(`${a}: a value is required`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a.startsWith('--store')) {
      const names = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const n of names)
        if (!(ALL_STORES as readonly string[]).includes(n))
          throw new Error(`--store: unknown store "${n}" (known: ${ALL_STORES.join(', ')})`);
      stores = names as StoreName[];
    } else if (a.startsWith('--json')) json = val();
    else if (a.startsWith('--only')) {
      const names = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const n of names)
        if (!(SECTIONS as readonly string[]).includes(n))
          throw new Error(`--only: unknown section "${n}" (known: ${SECTIONS.join(', ')})`);
      only = names as Section[];
    } else if (FLEET_NUMBERS.some((name) => a === `--${name}` || a.startsWith(`--${name}=`))) {
      const name = a.slice(2).split('=')[0] as (typeof FLEET_NUMBERS)[number];
      const v = Number(val());
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer`);
      out[name] = v;
    } else if (a === '--history' || a.startsWith('--history=')) {
      const v = Number(val());
      if (!Number.isInteger(v) || v < 0) throw new Error('--history: expected an integer ≥ 0');
      out.history = v;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'npm run bench -- [--store memory,file,redis,postgres,mysql,azure-blob] [--quick] [--json PATH] [--only ops,peers,post,fleet,failover] [--jobs N [--processes N]] [--slots N] [--period SECONDS] [--history RUNS]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"`);
  }
  if (out.processes !== undefined && out.jobs === undefined) throw new Error('--processes: give --jobs too');
  return { ...out, stores, quick, only, ...(json === undefined ? {} : { json }) };
}

function table(figs: Figures): string {
  const rows = figs.list.map((f) => [
    f.name,
    f.store,
    fmt(f.value),
    f.unit,
    f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}× ${f.ratioTo}`,
    f.note ?? '',
  ]);
  const head = ['figure', 'store', 'value', 'unit', 'ratio', 'note'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 2 ? c.padStart(w[i] as number) : c.padEnd(w[i] as number))).join(' | ')} |`;
  return [
    line(head),
    `|${w.map((n, i) => (i === 2 ? `${'-'.repeat(n + 1)}:` : '-'.repeat(n + 2))).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const figs = new Figures();
  const servers = new Servers();
  const has = (s: StoreName) => args.stores.includes(s);
  let mark = performance.now();
  const section = (s: Section) => {
    const on = args.only.includes(s);
    if (on) {
      const t = performance.now();
      process.stderr.write(
        `  [${((t - t0) / 1000).toFixed(0)} s elapsed, ${((t - mark) / 1000).toFixed(0)} s since the last section]\n`,
      );
      mark = t;
    }
    return on;
  };
  const loadBefore = await loadAverage();
  process.stderr.write(
    `leasehold bench${args.quick ? ' (quick)' : ''}: stores ${args.stores.join(', ')}; ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; load ${loadBefore}\n`,
  );
  try {
    if (section('ops')) {
      process.stderr.write('\n1–2. per-operation latency and requests; overhead against the raw client\n');
      for (const name of args.stores) {
        const t = await openTarget(name, servers);
        try {
          const slowStore = name === 'azure-blob';
          await benchOps(t, figs, {
            rounds: args.quick ? 3 : 5,
            n: args.quick ? (slowStore ? 8 : 20) : slowStore ? 60 : 200,
            warmMs: args.quick ? 300 : 3000,
          });
        } finally {
          await t.close();
        }
      }
    }
    if (section('peers') && has('redis')) {
      process.stderr.write('\n3. against redis-semaphore and redlock on the same Redis\n');
      await benchPeers(figs, servers, { quick: args.quick });
    }
    if (section('post') && has('azure-blob')) {
      process.stderr.write("\n4. against the post's approach on Azurite (10 hosts)\n");
      await benchPost(figs, servers, { quick: args.quick });
    }
    if (section('fleet')) {
      process.stderr.write('\n5. fleet scale: processes sharing one store, placement on and off\n');
      for (const name of args.stores.filter((s) => s === 'redis' || s === 'postgres'))
        await benchFleet(name, figs, servers, {
          quick: args.quick,
          ...(args.jobs ? { jobs: args.jobs } : {}),
          ...(args.slots ? { slots: args.slots } : {}),
          ...(args.period ? { periodMs: args.period * 1000 } : {}),
          ...(args.processes ? { processes: args.processes } : {}),
          ...(args.history !== undefined ? { history: args.history } : {}),
        });
    }
    if (section('failover')) {
      process.stderr.write('\n6. failover against the TTL\n');
      // Quick mode: only the first selected of Redis, PostgreSQL, MySQL, file (about 15 s each).
      const candidates = (['redis', 'postgres', 'mysql', 'file'] as const).filter((s) => has(s));
      for (const name of args.quick ? candidates.slice(0, 1) : candidates) {
        await benchFailover(name, figs, servers, { quick: args.quick });
      }
    }
  } finally {
    await servers.close();
  }
  const loadAfter = await loadAverage();
  const wall = (performance.now() - t0) / 1000;
  process.stdout.write(
    `\n${table(figs)}\n\nload average before ${loadBefore}, after ${loadAfter}; ${wall.toFixed(0)} s\n`,
  );
  if (args.json) {
    // A figure that could not be measured (NaN: e.g. lateness when no slot ran) is left
    // out of the JSON rather than written as null; the table shows it.
    const out = figs.list
      .filter((f) => Number.isFinite(f.value))
      .map(({ note: _n, ratio, ratioTo, ...f }) =>
        ratio !== undefined && Number.isFinite(ratio) ? { ...f, ratioTo, ratio } : f,
      );
    writeFileSync(args.json, `${JSON.stringify(out, null, 2)}\n`);
    const left = figs.list.length - out.length;
    process.stderr.write(
      `wrote ${out.length} figures to ${args.json}${left ? ` (${left} not measurable, left out)` : ''}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
