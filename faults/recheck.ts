/**
 * Checks a kept fault-harness run again (after a checker change, or to read its problems):
 * `node --import tsx faults/recheck.ts <dir>` — prints the checker's result as JSON and
 * exits 1 when a must-be-zero figure is not zero. `<dir>` is the folder a run printed
 * ("history kept in …", or any run with --keep).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  check,
  observedTimeouts,
  type CheckInput,
  type FaultRecord,
  type HistEvent,
  type SinkRecord,
} from './checker.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: recheck.ts <dir>');
  process.exit(2);
}
const lines = (file: string): Record<string, unknown>[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
const saved = JSON.parse(readFileSync(join(dir, 'check-input.json'), 'utf8')) as Omit<
  CheckInput,
  'history' | 'sink'
> & { hr0: string };
const hr0 = BigInt(saved.hr0);
const ms = (t: unknown) => Number(BigInt(t as string) - hr0) / 1e6;
const history: HistEvent[] = [];
for (const f of readdirSync(dir).filter((n) => n.startsWith('hist-'))) {
  for (const raw of lines(join(dir, f))) {
    const e = { ...raw, t: ms(raw.t) } as unknown as HistEvent;
    if (raw.sent !== undefined) e.sent = ms(raw.sent);
    if (raw.recv !== undefined) e.recv = ms(raw.recv);
    history.push(e);
  }
}
const faults: FaultRecord[] = [...saved.faults];
for (const e of history)
  if (e.ev === 'stall' && e.sent !== undefined && e.recv !== undefined)
    faults.push({ kind: 'stall', start: e.sent, end: e.recv, worker: e.w });
faults.push(...observedTimeouts(history, saved.ttlMs));
const sink = lines(join(dir, 'sink.jsonl')).map((r) => ({ ...r, t: ms(r.t) }) as unknown as SinkRecord);
const { hr0: _unused, ...rest } = saved;
void _unused;
const r = check({ ...rest, history, sink, faults });
console.log(JSON.stringify(r, null, 1));
process.exit(r.ok ? 0 : 1);
