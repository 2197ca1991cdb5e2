/**
 * `leasehold/file` — the zero-setup store: a folder that every process on the host
 * (or on hosts sharing a network file system) can write.
 *
 * ## How it works
 *
 * Each key is a directory holding numbered, immutable versions of its record
 * (`v000000000042.json`). A change — acquire, renew, release, fenced write — writes the
 * new record to a temporary file and publishes it with `link(2)` as the next version
 * number. `link` fails if that name already exists, so exactly one of any number of
 * concurrent writers wins each version: a compare-and-swap that needs no lock file and
 * cannot be left half-done by a crashed process. Old versions are pruned; a writer
 * that was paused long enough for its base version to be pruned detects it and retries.
 *
 * The fencing token of a lease is the version number that granted it, so tokens only
 * grow, across releases, expiries and restarts, without a separate counter.
 *
 * ## Its clock
 *
 * The folder store has no server, so "now" is the modification time the **kernel**
 * (or, on NFS, the file server) stamps on a freshly created file — not any process's
 * `Date.now()`. Processes with skewed or faked clocks therefore still agree on expiry.
 * Timestamps are coarse (a few ms on Linux; up to 2 s on some network file systems),
 * so expiry is judged `granularityMs` late.
 *
 * ## What it assumes
 *
 * - `link(2)` is atomic and fails with `EEXIST` on an existing name (true on local
 *   POSIX file systems and NFSv3/v4; not on some FUSE/SMB mounts — test yours with the
 *   conformance suite from `leasehold/testing`).
 * - On a network file system, every host sees the same server's timestamps and the
 *   server clock is not stepped backwards. Attribute caching must not hide new files
 *   from `readdir` for longer than the TTL margin (mount with `lookupcache=positive` or
 *   `noac` for NFS).
 * - Without `fsync: true`, a power loss can lose the last versions written; tokens may
 *   then repeat after the machine restarts. Process crashes lose nothing.
 *
 * @module
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import type {
  AcquireRequest,
  AcquireResult,
  LeaseRecord,
  LeaseRef,
  LeaseStore,
  RenewRequest,
  StoreCapabilities,
  StoreOpOptions,
  WriteStateRequest,
} from '../../store.js';
import { decodeState, encodeState, throwIfAborted, unavailable } from '../util.js';

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

interface FileRecord {
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
}

type Decision<T> = { result: T; write?: (seq: number, base: FileRecord | null) => Omit<FileRecord, 'seq' | 'id' | 'prev'> };

const VERSION = /^v(\d{12})\.json$/;
const MAX_CAS_ATTEMPTS = 200;

function versionName(seq: number): string {
  return `v${String(seq).padStart(12, '0')}.json`;
}

/**
 * Maps a key to a directory name that is valid and distinct on every file system,
 * including case-insensitive ones: percent-encoding, upper-case letters written as
 * `^` + lower-case, a leading dot escaped, and long names shortened with a hash.
 */
export function keyToDirName(key: string): string {
  let enc = encodeURIComponent(key)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%([0-9A-F]{2})/g, (_m, h: string) => `%${h.toLowerCase()}`)
    .replace(/[A-Z]/g, (c) => `^${c.toLowerCase()}`);
  if (enc.startsWith('.')) enc = `%2e${enc.slice(1)}`;
  if (enc.length > 180) enc = `${enc.slice(0, 100)}~${createHash('sha256').update(key).digest('hex')}`;
  return enc;
}

/** Inverse of {@link keyToDirName}; undefined for hashed (long) names. */
export function dirNameToKey(name: string): string | undefined {
  if (name.includes('~') || name.startsWith('.')) return undefined;
  try {
    return decodeURIComponent(name.replace(/\^([a-z])/g, (_m, c: string) => c.toUpperCase()));
  } catch {
    return undefined;
  }
}

function isErr(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

/** A {@link LeaseStore} on a folder. See the module docs for what it assumes. */
export class FileStore implements LeaseStore {
  readonly name = 'file';
  readonly capabilities: StoreCapabilities = { clock: 'store', persistent: true, stateOnAcquire: true, minTtlMs: 100 };
  /** Absolute path of the folder. */
  readonly dir: string;
  readonly #tmpDir: string;
  #granularity: number;
  readonly #fsync: boolean;
  readonly #keep: number;
  #ready: Promise<void> | undefined;
  /** The last kernel timestamp read, and the monotonic time it was read at. */
  #lastStamp: { now: number; perf: number } | undefined;

  constructor(options: FileStoreOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir.trim() === '') {
      throw new ConfigError(`file store: dir must be a non-empty path, got ${JSON.stringify(options?.dir)}`);
    }
    this.dir = resolve(options.dir);
    this.#tmpDir = join(this.dir, '.tmp');
    this.#granularity = options.granularityMs ?? 20;
    this.#fsync = options.fsync ?? false;
    this.#keep = Math.max(2, options.keepVersions ?? 8);
    if (!(this.#granularity >= 0)) throw new ConfigError(`file store: granularityMs must be >= 0, got ${options.granularityMs}`);
  }

  #prepare(): Promise<void> {
    this.#ready ??= (async () => {
      await fsp.mkdir(this.#tmpDir, { recursive: true });
      // Temporary files of processes that crashed mid-write; none lives longer than a write.
      const cutoff = Date.now() - 10 * 60_000;
      for (const name of await fsp.readdir(this.#tmpDir).catch(() => [] as string[])) {
        const p = join(this.#tmpDir, name);
        const st = await fsp.stat(p).catch(() => undefined);
        if (st && st.mtimeMs < cutoff) await fsp.unlink(p).catch(() => {});
      }
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  /** Creates a temporary file and reads the kernel's timestamp of it: the store's "now". */
  async #stamp(): Promise<{ path: string; handle: fsp.FileHandle; now: number }> {
    await this.#prepare();
    const path = join(this.#tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const handle = await fsp.open(path, 'wx');
    try {
      const st = await handle.stat();
      if (st.mtimeMs % 1000 === 0 && this.#granularity < 2000) this.#granularity = 2000;
      this.#lastStamp = { now: st.mtimeMs, perf: performance.now() };
      return { path, handle, now: st.mtimeMs };
    } catch (err) {
      await handle.close().catch(() => {});
      await fsp.unlink(path).catch(() => {});
      throw err;
    }
  }

  #keyDir(key: string): string {
    return join(this.dir, keyToDirName(key));
  }

  async #versions(keyDir: string): Promise<number[] | null> {
    let names: string[];
    try {
      names = await fsp.readdir(keyDir);
    } catch (err) {
      if (isErr(err, 'ENOENT')) return null;
      throw err;
    }
    const seqs: number[] = [];
    for (const n of names) {
      const m = VERSION.exec(n);
      if (m) seqs.push(Number(m[1]));
    }
    return seqs.sort((a, b) => a - b);
  }

  async #readVersion(keyDir: string, seq: number): Promise<FileRecord | null> {
    try {
      const text = await fsp.readFile(join(keyDir, versionName(seq)), 'utf8');
      return JSON.parse(text) as FileRecord;
    } catch (err) {
      if (isErr(err, 'ENOENT') || err instanceof SyntaxError) return null;
      throw err;
    }
  }

  /** The latest readable version, or null when the key has none. */
  async #latest(keyDir: string): Promise<{ seq: number; rec: FileRecord | null } | null> {
    for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
      const seqs = await this.#versions(keyDir);
      if (!seqs || seqs.length === 0) return null;
      const top = seqs[seqs.length - 1] as number;
      const rec = await this.#readVersion(keyDir, top);
      if (rec) return { seq: top, rec };
      // Pruned between readdir and read, or an unreadable file left by a power loss:
      // re-list; if the top version itself is unreadable, build on its number anyway.
      const again = await this.#versions(keyDir);
      if (again && again[again.length - 1] === top) return { seq: top, rec: null };
    }
    return null;
  }

  #expired(rec: FileRecord, now: number): boolean {
    return rec.leaseId === null || now >= rec.expiresAt + this.#granularity;
  }

  #isCurrent(rec: FileRecord | null, ref: LeaseRef, now: number): rec is FileRecord {
    return !!rec && rec.leaseId === ref.leaseId && rec.token === ref.token && !this.#expired(rec, now);
  }

  /** Read-decide-publish with link(2) as compare-and-swap; retried on conflict. */
  async #mutate<T>(what: string, key: string, signal: AbortSignal | undefined, decide: (rec: FileRecord | null, now: number) => Decision<T>): Promise<T> {
    const keyDir = this.#keyDir(key);
    try {
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        throwIfAborted(signal, what);
        if (attempt > 3) await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 20)));
        const stamp = await this.#stamp();
        try {
          const latest = await this.#latest(keyDir);
          const base = latest?.rec ?? null;
          const d = decide(base, stamp.now);
          if (!d.write) return d.result;
          const seq = (latest?.seq ?? 0) + 1;
          const rec: FileRecord = { ...d.write(seq, base), seq, id: randomUUID(), prev: base?.id ?? null };
          await stamp.handle.writeFile(JSON.stringify(rec));
          if (this.#fsync) await stamp.handle.sync();
          await stamp.handle.close();
          try {
            await fsp.link(stamp.path, join(keyDir, versionName(seq)));
          } catch (err) {
            if (isErr(err, 'EEXIST')) continue;
            if (isErr(err, 'ENOENT') && !latest) {
              await fsp.mkdir(keyDir, { recursive: true });
              continue;
            }
            throw err;
          }
          if (this.#fsync) await this.#syncDir(keyDir);
          if (!(await this.#confirm(keyDir, rec))) continue;
          await this.#prune(keyDir, seq);
          return d.result;
        } finally {
          await stamp.handle.close().catch(() => {});
          await fsp.unlink(stamp.path).catch(() => {});
        }
      }
      throw new Error(`gave up after ${MAX_CAS_ATTEMPTS} conflicting writes`);
    } catch (err) {
      throw unavailable(`file store: ${what} "${key}"`, err);
    }
  }

  /**
   * Our link succeeded; make sure it did not land on a number pruned under a writer
   * that was paused for a long time (ABA). It is ours if it is the newest version or
   * the next version names it as `prev`.
   */
  async #confirm(keyDir: string, rec: FileRecord): Promise<boolean> {
    const seqs = await this.#versions(keyDir);
    if (!seqs) return false;
    const top = seqs[seqs.length - 1] as number;
    if (top === rec.seq) return true;
    const next = await this.#readVersion(keyDir, rec.seq + 1);
    return next?.prev === rec.id;
  }

  async #prune(keyDir: string, seq: number): Promise<void> {
    if (seq % this.#keep !== 0) return;
    const seqs = (await this.#versions(keyDir)) ?? [];
    await Promise.all(seqs.filter((s) => s <= seq - this.#keep).map((s) => fsp.unlink(join(keyDir, versionName(s))).catch(() => {})));
  }

  async #syncDir(dir: string): Promise<void> {
    const h = await fsp.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }

  async acquire(req: AcquireRequest, options?: StoreOpOptions): Promise<AcquireResult> {
    // Fast busy check: when the newest record is held well past our estimate of the
    // store clock, answer busy without writing anything. The estimate can only make us
    // say "busy" a little too long, never grant a lease that is still held.
    if (this.#lastStamp) {
      try {
        const latest = await this.#latest(this.#keyDir(req.key));
        const rec = latest?.rec;
        const est = this.#lastStamp.now + (performance.now() - this.#lastStamp.perf);
        if (rec && rec.leaseId !== null && rec.leaseId !== req.leaseId && est + 50 < rec.expiresAt) {
          const out: AcquireResult = { acquired: false, expiresInMs: rec.expiresAt + this.#granularity - est, storeTime: est, state: decodeState(rec.state) };
          return rec.holder ? { ...out, holder: rec.holder } : out;
        }
      } catch (err) {
        throw unavailable(`file store: acquire "${req.key}"`, err);
      }
    }
    return this.#mutate<AcquireResult>('acquire', req.key, options?.signal, (rec, now) => {
      const state = decodeState(rec?.state);
      if (rec && !this.#expired(rec, now) && rec.leaseId !== req.leaseId) {
        const out: AcquireResult = { acquired: false, expiresInMs: rec.expiresAt + this.#granularity - now, storeTime: now, state };
        return { result: rec.holder ? { ...out, holder: rec.holder } : out };
      }
      const retry = !!rec && rec.leaseId === req.leaseId && !this.#expired(rec, now);
      let token = 0;
      return {
        get result(): AcquireResult {
          return { acquired: true, token, storeTime: now, state };
        },
        write: (seq) => {
          token = retry && rec ? rec.token : seq;
          return { key: req.key, holder: req.holder, leaseId: req.leaseId, token, expiresAt: now + req.ttlMs, state: rec?.state ?? null };
        },
      };
    });
  }

  async renew(req: RenewRequest, options?: StoreOpOptions): Promise<boolean> {
    return this.#mutate('renew', req.key, options?.signal, (rec, now) =>
      this.#isCurrent(rec, req, now) ? { result: true, write: () => ({ ...strip(rec), expiresAt: now + req.ttlMs }) } : { result: false },
    );
  }

  async release(ref: LeaseRef, options?: StoreOpOptions): Promise<boolean> {
    return this.#mutate('release', ref.key, options?.signal, (rec, now) =>
      this.#isCurrent(rec, ref, now) ? { result: true, write: () => ({ ...strip(rec), holder: null, leaseId: null, expiresAt: 0 }) } : { result: false },
    );
  }

  async writeState(req: WriteStateRequest, options?: StoreOpOptions): Promise<boolean> {
    const text = encodeState(req.state);
    return this.#mutate('writeState', req.key, options?.signal, (rec, now) =>
      this.#isCurrent(rec, req, now) ? { result: true, write: () => ({ ...strip(rec), state: text }) } : { result: false },
    );
  }

  async forceRelease(key: string, options?: StoreOpOptions): Promise<boolean> {
    return this.#mutate('forceRelease', key, options?.signal, (rec, now) =>
      rec && !this.#expired(rec, now) ? { result: true, write: () => ({ ...strip(rec), holder: null, leaseId: null, expiresAt: 0 }) } : { result: false },
    );
  }

  async inspect(key: string, options?: StoreOpOptions): Promise<LeaseRecord | null> {
    try {
      throwIfAborted(options?.signal, 'inspect');
      const latest = await this.#latest(this.#keyDir(key));
      if (!latest?.rec) return latest ? { key, holder: null, token: latest.seq, expiresInMs: null, state: null } : null;
      const now = await this.now();
      const { rec } = latest;
      const live = !this.#expired(rec, now);
      return {
        key,
        holder: live ? rec.holder : null,
        token: rec.token,
        expiresInMs: live ? rec.expiresAt + this.#granularity - now : null,
        state: decodeState(rec.state),
      };
    } catch (err) {
      throw unavailable(`file store: inspect "${key}"`, err);
    }
  }

  async list(options?: StoreOpOptions & { prefix?: string }): Promise<string[]> {
    try {
      throwIfAborted(options?.signal, 'list');
      let names: string[];
      try {
        names = await fsp.readdir(this.dir);
      } catch (err) {
        if (isErr(err, 'ENOENT')) return [];
        throw err;
      }
      const keys: string[] = [];
      for (const name of names) {
        if (name.startsWith('.')) continue;
        let key = dirNameToKey(name);
        if (key === undefined) key = (await this.#latest(join(this.dir, name)))?.rec?.key;
        if (key !== undefined && key.startsWith(options?.prefix ?? '')) keys.push(key);
      }
      return keys;
    } catch (err) {
      throw unavailable('file store: list', err);
    }
  }

  async now(options?: StoreOpOptions): Promise<number> {
    try {
      throwIfAborted(options?.signal, 'now');
      const s = await this.#stamp();
      await s.handle.close().catch(() => {});
      await fsp.unlink(s.path).catch(() => {});
      return s.now;
    } catch (err) {
      throw unavailable('file store: read clock', err);
    }
  }

  async close(): Promise<void> {}
}

function strip(rec: FileRecord): Omit<FileRecord, 'seq' | 'id' | 'prev'> {
  const { seq: _s, id: _i, prev: _p, ...rest } = rec;
  return rest;
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
    if (host !== '' && host !== 'localhost') throw new ConfigError(`store: file URLs cannot name a host ("${host}"); mount the share and use file:/path`);
    path = slash < 0 ? '' : decodeURIComponent(rest.slice(slash));
  }
  if (!path) throw new ConfigError(`store: "${url}" names no folder; use file:<dir>, e.g. file:.leasehold`);
  return new FileStore({ dir: path });
}
