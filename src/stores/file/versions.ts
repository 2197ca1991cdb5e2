/**
 * The folder store's compare-and-swap: a key is a directory of numbered, immutable
 * versions of its record, and a change is published with `link(2)` as the next number,
 * which fails when that name exists, so one writer wins each version. Why this is safe
 * (and what it assumes of the file system): docs/stores/file.md.
 * @module
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { versionName, versionOf } from './naming.js';

/** One version of a key's record. */
export interface FileRecord {
  /** Version number of this record; the token when a lease was granted by it. */
  seq: number;
  /** Random id of this version; the next version names it as `prev`. */
  id: string;
  prev: string | null;
  key: string;
  holder: string | null;
  leaseId: string | null;
  token: number;
  /** Store time (kernel file timestamp, epoch ms) at which the lease expires; 0 when free. */
  expiresAt: number;
  state: string | null;
  /**
   * The last grant's start record (JSON text), cleared by a state write; absent in
   * versions written before marks existed, which reads as null.
   */
  mark?: string | null;
}

/** A record without its version fields: what an operation decides to write. */
export type RecordBody = Omit<FileRecord, 'seq' | 'id' | 'prev'>;

/** The version fields of a record dropped, to build the next version from it. */
export function bodyOf(record: FileRecord): RecordBody {
  const { seq: _seq, id: _id, prev: _prev, ...body } = record;
  return body;
}

/** Reads and re-lists on conflict at most this many times before giving up. */
export const MAX_CAS_ATTEMPTS = 200;

/** True when `err` is a file-system error with one of `codes`. */
export function isErr(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** The version numbers in a key's directory, ascending; null when the directory does not exist. */
export async function listVersions(keyDir: string): Promise<number[] | null> {
  let names: string[];
  try {
    names = await fsp.readdir(keyDir);
  } catch (err) {
    if (isErr(err, 'ENOENT')) return null;
    throw err;
  }
  const seqs: number[] = [];
  for (const name of names) {
    const seq = versionOf(name);
    if (seq !== undefined) seqs.push(seq);
  }
  return seqs.sort((a, b) => a - b);
}

/** One version's record; null when it is gone (pruned) or unreadable (cut short by a power loss). */
export async function readVersion(keyDir: string, seq: number): Promise<FileRecord | null> {
  try {
    const text = await fsp.readFile(join(keyDir, versionName(seq)), 'utf8');
    return JSON.parse(text) as FileRecord;
  } catch (err) {
    if (isErr(err, 'ENOENT') || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** The latest version, with its record when readable; null when the key has none. */
export async function latestVersion(keyDir: string): Promise<{ seq: number; rec: FileRecord | null } | null> {
  for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
    const seqs = await listVersions(keyDir);
    if (!seqs || seqs.length === 0) return null;
    const top = seqs[seqs.length - 1] as number;
    const rec = await readVersion(keyDir, top);
    if (rec) return { seq: top, rec };
    // Pruned between readdir and read, or an unreadable file left by a power loss:
    // re-list; if the top version itself is unreadable, build on its number anyway.
    const again = await listVersions(keyDir);
    if (again && again[again.length - 1] === top) return { seq: top, rec: null };
  }
  return null;
}

/** How versions are published. */
export interface PublishOptions {
  /** `fsync` the new version and its directory. */
  readonly fsync: boolean;
  /** Old versions kept per key before pruning. */
  readonly keep: number;
}

/**
 * Publishes `rec` as version `rec.seq` of the key: writes it into the open temporary
 * file `handle` (at `tmpPath`) and links it into `keyDir`. False when another writer won
 * that number (or the directory was just created): read again and decide again.
 * `hadVersions` says whether the key had any version when it was read.
 */
export async function publish(
  handle: fsp.FileHandle,
  tmpPath: string,
  keyDir: string,
  rec: FileRecord,
  hadVersions: boolean,
  options: PublishOptions,
): Promise<boolean> {
  await handle.writeFile(JSON.stringify(rec));
  if (options.fsync) await handle.sync();
  await handle.close();
  try {
    await fsp.link(tmpPath, join(keyDir, versionName(rec.seq)));
  } catch (err) {
    if (isErr(err, 'EEXIST')) return false;
    if (isErr(err, 'ENOENT') && !hadVersions) {
      await fsp.mkdir(keyDir, { recursive: true });
      return false;
    }
    throw err;
  }
  if (options.fsync) await syncDir(keyDir);
  if (!(await confirm(keyDir, rec))) return false;
  await prune(keyDir, rec.seq, options.keep);
  return true;
}

/**
 * Our link succeeded; make sure it did not land on a number pruned under a writer
 * that was paused for a long time (ABA). It is ours if it is the newest version or
 * the next version names it as `prev`.
 */
async function confirm(keyDir: string, rec: FileRecord): Promise<boolean> {
  const seqs = await listVersions(keyDir);
  if (!seqs) return false;
  const top = seqs[seqs.length - 1] as number;
  if (top === rec.seq) return true;
  const next = await readVersion(keyDir, rec.seq + 1);
  return next?.prev === rec.id;
}

/** Every `keep` versions, deletes those more than `keep` behind. */
async function prune(keyDir: string, seq: number, keep: number): Promise<void> {
  if (seq % keep !== 0) return;
  const old = ((await listVersions(keyDir)) ?? []).filter((s) => s <= seq - keep);
  await Promise.all(old.map((s) => fsp.unlink(join(keyDir, versionName(s))).catch(() => {})));
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
