/**
 * `leasehold/file` — the zero-setup store: a folder that every process on the host
 * (or on hosts sharing a network file system) can write. Each key is a directory of
 * numbered versions published with `link(2)` (versions.ts); the token is the version
 * that granted the lease; "now" is the kernel's timestamp of a new file, so it has no
 * clock of its own beyond the file system's. What it assumes: docs/stores/file.md.
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import {
  checkOptionNames,
  decodeState,
  encodeMark,
  encodeState,
  once,
  type Once,
  throwIfAborted,
  unavailable,
} from '../../store-kit/index.js';
import type * as contract from '../../store.js';
import { keyToDirName, dirNameToKey } from './naming.js';
import {
  bodyOf,
  type FileRecord,
  isErr,
  latestVersion,
  MAX_CAS_ATTEMPTS,
  publish,
  type RecordBody,
} from './versions.js';

export { keyToDirName, dirNameToKey } from './naming.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** The folder. Created (with parents) on first use. */
  dir: string;
  /**
   * Expiry is judged this many ms late to absorb coarse file timestamps. Raised to
   * 2000 automatically when the file system stamps whole seconds.
   * @defaultValue 20
   */
  granularityMs?: number;
  /**
   * `fsync` each new version and its directory, so tokens survive a power loss, at
   * the cost of a disk flush per operation.
   * @defaultValue false
   */
  fsync?: boolean;
  /** Old versions kept per key before pruning. @defaultValue 8 */
  keepVersions?: number;
}

type Decision<T> = { result: T; write?: (seq: number, base: FileRecord | null) => RecordBody };

const OPTION_NAMES = ['dir', 'granularityMs', 'fsync', 'keepVersions'];
/** Any TTL from 0.1 s (the file system is quick, its timestamps a few ms coarse); state comes with an acquire. */
const FILE_LIMITS = { stateOnAcquire: true, minTtlMs: 100 } as const;
/** Temporary files older than this are left by crashed processes: none lives longer than a write. */
const STALE_TMP_MS = 10 * 60_000;

/** A {@link LeaseStore} on a folder. See docs/stores/file.md for what it assumes. */
export class FileStore implements contract.LeaseStore {
  readonly name = 'file';
  readonly capabilities: contract.StoreCapabilities = { clock: 'store', persistent: true, ...FILE_LIMITS };
  /** Absolute path of the folder. */
  readonly dir: string;
  readonly #tmpDir: string;
  #granularity: number;
  readonly #publishing: { fsync: boolean; keep: number };
  /** Creating the folder and sweeping stale temporary files: once, again after a failure. */
  readonly #ready: Once<void>;
  /** The last kernel timestamp read, and the monotonic time it was read at. */
  #lastStamp: { now: number; perf: number } | undefined;

  constructor(options: FileStoreOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir.trim() === '') {
      throw new ConfigError(`file store: dir must be a non-empty path, got ${JSON.stringify(options?.dir)}`);
    }
    checkOptionNames('file store', options, OPTION_NAMES);
    this.dir = resolve(options.dir);
    this.#tmpDir = join(this.dir, '.tmp');
    this.#granularity = options.granularityMs ?? 20;
    this.#publishing = { fsync: options.fsync ?? false, keep: Math.max(2, options.keepVersions ?? 8) };
    if (!(this.#granularity >= 0)) {
      throw new ConfigError(`file store: granularityMs must be >= 0, got ${options.granularityMs}`);
    }
    this.#ready = once(() => this.#prepare());
  }

  async #prepare(): Promise<void> {
    await makeDir(this.#tmpDir);
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const name of await fsp.readdir(this.#tmpDir).catch(() => [] as string[])) {
      const path = join(this.#tmpDir, name);
      const stat = await fsp.stat(path).catch(() => undefined);
      if (stat && stat.mtimeMs < cutoff) await fsp.unlink(path).catch(() => {});
    }
  }

  /** Creates a temporary file and reads the kernel's timestamp of it: the store's "now". */
  async #stamp(): Promise<Stamp> {
    await this.#ready();
    const path = join(this.#tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const handle = await fsp.open(path, 'wx');
    try {
      const stat = await handle.stat();
      if (stat.mtimeMs % 1000 === 0 && this.#granularity < 2000) this.#granularity = 2000;
      this.#lastStamp = { now: stat.mtimeMs, perf: performance.now() };
      return { path, handle, now: stat.mtimeMs };
    } catch (err) {
      await discard({ path, handle });
      throw err;
    }
  }

  #keyDir(key: string): string {
    return join(this.dir, keyToDirName(key));
  }

  #expired(rec: FileRecord, now: number): boolean {
    return rec.leaseId === null || now >= rec.expiresAt + this.#granularity;
  }

  #isCurrent(rec: FileRecord | null, ref: contract.LeaseRef, now: number): rec is FileRecord {
    return !!rec && rec.leaseId === ref.leaseId && rec.token === ref.token && !this.#expired(rec, now);
  }

  /** Read-decide-publish with link(2) as compare-and-swap; retried on conflict. */
  async #mutate<T>(
    what: string,
    key: string,
    signal: AbortSignal | undefined,
    decide: (rec: FileRecord | null, now: number) => Decision<T>,
  ): Promise<T> {
    const keyDir = this.#keyDir(key);
    try {
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        throwIfAborted(signal, what);
        if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 20)));
        const stamp = await this.#stamp();
        try {
          const latest = await latestVersion(keyDir);
          const base = latest?.rec ?? null;
          const decision = decide(base, stamp.now);
          if (!decision.write) return decision.result;
          const seq = (latest?.seq ?? 0) + 1;
          const rec: FileRecord = { ...decision.write(seq, base), seq, id: randomUUID(), prev: base?.id ?? null };
          if (await publish(stamp.handle, stamp.path, keyDir, rec, !!latest, this.#publishing)) return decision.result;
        } finally {
          await discard(stamp);
        }
      }
      throw new Error(`gave up after ${MAX_CAS_ATTEMPTS} conflicting writes`);
    } catch (err) {
      throw unavailable(`file store: ${what} "${key}"`, err);
    }
  }

  /** A busy answer for a lease held until `rec.expiresAt`, as of store time `now`. */
  #busy(rec: FileRecord, now: number): contract.AcquireResult {
    const expiresInMs = rec.expiresAt + this.#granularity - now;
    const [state, mark] = [decodeState(rec.state), decodeState(rec.mark)];
    const out: contract.AcquireResult = { acquired: false, expiresInMs, storeTime: now, state, mark };
    return rec.holder ? { ...out, holder: rec.holder } : out;
  }

  async acquire(req: contract.AcquireRequest, options?: contract.StoreOpOptions): Promise<contract.AcquireResult> {
    const markText = req.mark === undefined ? undefined : encodeMark(req.mark);
    // Fast busy check: when the newest record is held well past our estimate of the
    // store clock, answer busy without writing anything. The estimate can only make us
    // say "busy" a little too long, never grant a lease that is still held.
    if (this.#lastStamp) {
      try {
        const rec = (await latestVersion(this.#keyDir(req.key)))?.rec;
        const estimate = this.#lastStamp.now + (performance.now() - this.#lastStamp.perf);
        if (rec && rec.leaseId !== null && rec.leaseId !== req.leaseId && estimate + 50 < rec.expiresAt) {
          return this.#busy(rec, estimate);
        }
      } catch (err) {
        throw unavailable(`file store: acquire "${req.key}"`, err);
      }
    }
    return this.#mutate<contract.AcquireResult>('acquire', req.key, options?.signal, (rec, now) => {
      if (rec && !this.#expired(rec, now) && rec.leaseId !== req.leaseId) return { result: this.#busy(rec, now) };
      const [state, previousMark] = [decodeState(rec?.state), decodeState(rec?.mark)];
      const retry = !!rec && rec.leaseId === req.leaseId && !this.#expired(rec, now);
      let token = 0;
      return {
        get result(): contract.AcquireResult {
          return { acquired: true, token, storeTime: now, state, mark: previousMark };
        },
        // The grant and its mark are one version: published together by one link(2), or not at all.
        write: (seq) => {
          token = retry && rec ? rec.token : seq;
          const { key, holder, leaseId } = req;
          const mark = markText ?? rec?.mark ?? null;
          return { key, holder, leaseId, token, expiresAt: now + req.ttlMs, state: rec?.state ?? null, mark };
        },
      };
    });
  }

  /** Writes `change(rec)` when the lease `ref` is current; answers whether it was. */
  #ifCurrent(what: string, ref: contract.LeaseRef, signal: AbortSignal | undefined, change: Change): Promise<boolean> {
    return this.#mutate(what, ref.key, signal, (rec, now) =>
      this.#isCurrent(rec, ref, now) ? { result: true, write: () => change(rec, now) } : { result: false },
    );
  }

  async renew(req: contract.RenewRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    return this.#ifCurrent('renew', req, options?.signal, (rec, now) => ({
      ...bodyOf(rec),
      expiresAt: now + req.ttlMs,
    }));
  }

  async release(req: contract.ReleaseRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = req.state === undefined ? undefined : encodeState(req.state);
    const ref = { key: req.key, leaseId: req.leaseId, token: req.token };
    // With a final state, the release and the end record are one version (one link(2)).
    const change = text === undefined ? freed : (rec: FileRecord) => ({ ...freed(rec), state: text, mark: null });
    return this.#ifCurrent('release', ref, options?.signal, change);
  }

  async writeState(req: contract.WriteStateRequest, options?: contract.StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    return this.#ifCurrent('writeState', req, options?.signal, (rec) => ({ ...bodyOf(rec), state: text, mark: null }));
  }

  async forceRelease(key: string, options?: contract.StoreOpOptions): Promise<boolean> {
    return this.#mutate('forceRelease', key, options?.signal, (rec, now) =>
      rec && !this.#expired(rec, now) ? { result: true, write: () => freed(rec) } : { result: false },
    );
  }

  async inspect(key: string, options?: contract.StoreOpOptions): Promise<contract.LeaseRecord | null> {
    try {
      throwIfAborted(options?.signal, 'inspect');
      const latest = await latestVersion(this.#keyDir(key));
      if (!latest) return null;
      return this.#record(key, latest, latest.rec ? await this.now() : 0);
    } catch (err) {
      throw unavailable(`file store: inspect "${key}"`, err);
    }
  }

  /**
   * Every key under `prefix`: one listing of the folder, the newest version of each
   * matching key's directory (read side by side), and one clock read for all of them.
   */
  async inspectAll(options: contract.StoreOpOptions & { prefix: string }): Promise<contract.LeaseRecord[]> {
    try {
      throwIfAborted(options?.signal, 'inspectAll');
      const found = await this.#keysUnder(options.prefix);
      const latest = await Promise.all(
        found.map(async ({ key, path }) => ({ key, latest: await latestVersion(path) })),
      );
      const now = await this.now();
      const records: contract.LeaseRecord[] = [];
      for (const entry of latest) if (entry.latest) records.push(this.#record(entry.key, entry.latest, now));
      return records;
    } catch (err) {
      throw unavailable(`file store: inspectAll ${JSON.stringify(options.prefix)}`, err);
    }
  }

  /** A key's record from its newest version, as of store time `now`. */
  #record(key: string, latest: { seq: number; rec: FileRecord | null }, now: number): contract.LeaseRecord {
    const { rec } = latest;
    // An unreadable newest version (cut short by a power loss) still holds its number as a token.
    if (!rec) return { key, holder: null, token: latest.seq, expiresInMs: null, state: null, mark: null };
    const live = !this.#expired(rec, now);
    return {
      key,
      holder: live ? rec.holder : null,
      token: rec.token,
      expiresInMs: live ? rec.expiresAt + this.#granularity - now : null,
      state: decodeState(rec.state),
      mark: decodeState(rec.mark),
    };
  }

  async list(options?: contract.StoreOpOptions & { prefix?: string }): Promise<string[]> {
    try {
      throwIfAborted(options?.signal, 'list');
      return (await this.#keysUnder(options?.prefix ?? '')).map(({ key }) => key);
    } catch (err) {
      throw unavailable('file store: list', err);
    }
  }

  /**
   * The keys starting with `prefix` and their directories. A name decodes to its key;
   * a hashed (long) name is read for the key its record names.
   */
  async #keysUnder(prefix: string): Promise<{ key: string; path: string }[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if (isErr(err, 'ENOENT')) return [];
      throw err;
    }
    const keys: { key: string; path: string }[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(this.dir, name);
      const key = dirNameToKey(name) ?? (await latestVersion(path))?.rec?.key;
      if (key?.startsWith(prefix)) keys.push({ key, path });
    }
    return keys;
  }

  async now(options?: contract.StoreOpOptions): Promise<number> {
    try {
      throwIfAborted(options?.signal, 'now');
      const stamp = await this.#stamp();
      await discard(stamp);
      return stamp.now;
    } catch (err) {
      throw unavailable('file store: read clock', err);
    }
  }

  async close(): Promise<void> {}
}

/** A temporary file whose kernel timestamp was read: the store's "now", and the next version's body. */
interface Stamp {
  path: string;
  handle: fsp.FileHandle;
  now: number;
}

/** What a lease-owned change writes, from the current record and the store's time. */
type Change = (rec: FileRecord, now: number) => RecordBody;

/** The record with its lease let go of (release, break). */
function freed(rec: FileRecord): RecordBody {
  return { ...bodyOf(rec), holder: null, leaseId: null, expiresAt: 0 };
}

/** Closes and deletes a temporary file; never throws (it may be closed or linked already). */
async function discard(stamp: Pick<Stamp, 'path' | 'handle'>): Promise<void> {
  await stamp.handle.close().catch(() => {});
  await fsp.unlink(stamp.path).catch(() => {});
}

/**
 * `mkdir -p` that always ends. Node's own `{ recursive: true }` spins forever (a busy
 * thread-pool thread, never settling) where the kernel refuses a name under an existing
 * parent with ENOENT, as in `/proc/nope`: here a parent is made at most once per level,
 * and a second ENOENT is the answer.
 */
async function makeDir(path: string): Promise<void> {
  try {
    await fsp.mkdir(path);
  } catch (err) {
    if (isErr(err, 'EEXIST')) return;
    const parent = dirname(path);
    if (!isErr(err, 'ENOENT') || parent === path) throw err;
    await makeDir(parent);
    await fsp.mkdir(path).catch((again: unknown) => {
      if (!isErr(again, 'EEXIST')) throw again;
    });
  }
}

/**
 * Opens `file:<dir>` (relative to the working directory), `file:/abs/dir` or
 * `file:///abs/dir`.
 */
export function fromUrl(url: string): FileStore {
  let path = url.replace(/^file:/i, '');
  if (path.startsWith('//')) {
    const rest = path.slice(2);
    const slash = rest.indexOf('/');
    const host = slash < 0 ? rest : rest.slice(0, slash);
    if (host !== '' && host !== 'localhost') {
      throw new ConfigError(`store: file URLs cannot name a host ("${host}"); mount the share and use file:/path`);
    }
    path = slash < 0 ? '' : decodeURIComponent(rest.slice(slash));
  }
  if (!path) throw new ConfigError(`store: "${url}" names no folder; use file:<dir>, e.g. file:.leasehold`);
  return new FileStore({ dir: path });
}
