/**
 * Fleet-aware placement (P1–P3): hosts publish their liveness in the store as leases on
 * reserved keys, each host reads that roster once per heartbeat, and each job has one
 * owner among the live hosts that run the same jobs (bounded-load rendezvous hashing,
 * rendezvous.ts). Only the owner tries a job's slots; the others never ask the store about
 * it. Safety never rests on this: two hosts with different views may both try, and the
 * job's lease decides. See docs/placement.md.
 * @module
 */
import { renewInterval, requestTimeout } from '../defaults.js';
import { safeLog } from '../events.js';
import { jitter } from '../internal.js';
import type { Lease } from '../lease.js';
import type { JsonValue, LeaseRecord } from '../store.js';
import { errorText } from '../store-kit/index.js';
import type { SchedulerPort } from './port.js';
import { assignOwners, jobSetDigest } from './rendezvous.js';
import type { PlacementEvent } from './types.js';

/** Where hosts hold their liveness leases: `leasehold#hosts/<n>`, n = 0, 1, … (slots are reused). */
export const HOSTS_PREFIX = 'leasehold#hosts/';

/**
 * Where operator controls that must act at once (trigger, backfill) are announced: under
 * the roster's prefix, so every host reads it with the roster, at no extra request.
 */
export const NOTICES_KEY = `${HOSTS_PREFIX}notices`;

/** The notice key's state: a sequence number and the latest notices, newest first. */
export interface Notices {
  seq: number;
  items: { seq: number; key: string; action: string }[];
}

/** What a host's liveness lease carries as its mark: the job set it runs. */
interface HostMark {
  v: 1;
  /** {@link jobSetDigest} of the host's jobs: hosts with the same digest share them. */
  digest: string;
  /** How many jobs (for display). */
  jobs: number;
}

/** A live host as the roster shows it. */
interface RosterHost {
  holder: string;
  digest: string | undefined;
}

/** Free slot indices tried at random among the first few, so hosts starting together rarely collide. */
const JOIN_SPREAD = 3;
/** Join attempts per heartbeat before waiting for the next one. */
const JOIN_ATTEMPTS = 5;

/** What placement needs of its scheduler. */
export interface PlacementHost {
  readonly port: SchedulerPort;
  /** True once `stop()` began. */
  readonly stopping: boolean;
  /** Wakes the loops of these jobs (they may have become ours). */
  wake(keys: readonly string[]): void;
  /** An operator control waits on these jobs: their loops look at it at once. */
  poke(keys: readonly string[]): void;
}

/** One host's membership in the fleet, and its view of who owns which job. */
export class Placement {
  readonly #host: PlacementHost;
  readonly #ttlMs: number;
  #jobs: string[] = [];
  #digest = '';
  #lease: Lease | undefined;
  /** Job → owner, from the last roster read; undefined until one succeeded (then: race). */
  #owners: Map<string, string> | undefined;
  /** The holders of this host's group in the last view, sorted. */
  #group: string[] = [];
  #timer: unknown;
  #tick: Promise<void> = Promise.resolve();
  #stopped = false;
  /** The last notice sequence number seen; undefined until the first roster read (old notices are not replayed). */
  #noticeSeq: number | undefined;

  /** Placement with liveness leases of `ttlMs`, heartbeats every ttl/3. */
  constructor(host: PlacementHost, ttlMs: number) {
    this.#host = host;
    this.#ttlMs = ttlMs;
  }

  /** The heartbeat: host leases renew and the roster is read this often. */
  get heartbeatMs(): number {
    return renewInterval(this.#ttlMs);
  }

  /**
   * True when this host should try `key`'s slots: it owns the job in its view, or it has
   * no view yet (never read the roster: every host tries, as without placement).
   */
  owns(key: string): boolean {
    if (!this.#owners) return true;
    return this.#owners.get(key) === this.#host.port.holder;
  }

  /** Joins with `jobKeys` and reads the roster once; then heartbeats until {@link stop}. Never throws. */
  async start(jobKeys: readonly string[]): Promise<void> {
    this.#setJobs(jobKeys);
    await this.#beat();
  }

  /** The job set changed (a job added after start): join again under the new digest. */
  async setJobs(jobKeys: readonly string[]): Promise<void> {
    await this.#tick;
    if (this.#stopped) return;
    this.#setJobs(jobKeys);
    const old = this.#lease;
    this.#lease = undefined;
    if (old) await this.#leave(old, 'its jobs changed');
    await this.#beat();
  }

  /** Stops heartbeating and gives up this host's slot, so others take its jobs at their next heartbeat. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#host.port.clock.clearTimeout(this.#timer);
    await this.#tick.catch(() => {});
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease) await this.#leave(lease, 'stopped');
  }

  #setJobs(jobKeys: readonly string[]): void {
    this.#jobs = [...jobKeys];
    this.#digest = jobSetDigest(jobKeys);
  }

  /** One heartbeat: (re)join if needed, read the roster, recompute owners; then arm the next. */
  #beat(): Promise<void> {
    this.#tick = this.#tick
      .then(async () => {
        if (this.#stopped || this.#host.stopping) return;
        try {
          const { hosts, notices } = await this.#readRoster();
          if (!this.#lease?.held) this.#lease = await this.#join(hosts);
          this.#update(hosts);
          this.#notice(notices);
        } catch (err) {
          const fields = { err: errorText(err) };
          safeLog(this.#host.port.logger, 'warn', fields, 'placement: roster not read; keeping the last view');
        }
      })
      .finally(() => this.#arm());
    return this.#tick;
  }

  #arm(): void {
    if (this.#stopped || this.#host.stopping) return;
    const { clock } = this.#host.port;
    clock.clearTimeout(this.#timer);
    // Spread ±10 % so hosts started together do not read the roster in step.
    const delay = this.heartbeatMs * jitter(0.9, 1.1);
    this.#timer = clock.setTimeout(() => void this.#beat(), delay, { unref: true });
  }

  async #readRoster(): Promise<{ hosts: LeaseRecord[]; notices: LeaseRecord | undefined }> {
    const records = await this.#host.port.readRecords(HOSTS_PREFIX, requestTimeout(this.#ttlMs));
    const hosts = records.filter((record) => /^\d+$/.test(record.key.slice(HOSTS_PREFIX.length)));
    return { hosts, notices: records.find((record) => record.key === NOTICES_KEY) };
  }

  /** Pokes the jobs this host owns that have a control announced since the last read. */
  #notice(record: LeaseRecord | undefined): void {
    const state = record?.state;
    const seq = state && typeof state === 'object' && !Array.isArray(state) ? state.seq : undefined;
    if (typeof seq !== 'number') {
      this.#noticeSeq ??= 0;
      return;
    }
    const seen = this.#noticeSeq;
    this.#noticeSeq = seq;
    if (seen === undefined || seq <= seen) return;
    const items = (state as { items?: unknown }).items;
    const keys = new Set<string>();
    for (const item of Array.isArray(items) ? (items as { seq?: unknown; key?: unknown }[]) : []) {
      if (typeof item?.key === 'string' && typeof item.seq === 'number' && item.seq > seen && this.owns(item.key)) {
        keys.add(item.key);
      }
    }
    if (keys.size > 0) this.#host.poke([...keys]);
  }

  /** Takes a free host slot (the lowest few, at random, so slots stay few); undefined if none was had. */
  async #join(records: LeaseRecord[]): Promise<Lease | undefined> {
    const { port } = this.#host;
    const mark: HostMark = { v: 1, digest: this.#digest, jobs: this.#jobs.length };
    let seen = records;
    for (let attempt = 0; attempt < JOIN_ATTEMPTS && !this.#stopped; attempt++) {
      const taken = new Set(seen.filter((record) => record.holder !== null).map((record) => slotIndex(record)));
      const free: number[] = [];
      for (let index = 0; free.length < JOIN_SPREAD; index++) if (!taken.has(index)) free.push(index);
      const index = free[Math.floor(Math.random() * free.length)] as number;
      const answer = await port.attemptAcquire(`${HOSTS_PREFIX}${index}`, this.#ttlMs, mark as unknown as JsonValue);
      if (answer.lease) {
        const lease = answer.lease;
        const onLost = () => {
          if (this.#lease === lease && !this.#stopped) void this.#beat(); // rejoin at once
        };
        lease.signal.addEventListener('abort', onLost, { once: true });
        safeLog(port.logger, 'info', { slot: index, jobs: this.#jobs.length }, 'placement: joined the fleet');
        return lease;
      }
      seen = (await this.#readRoster()).hosts;
    }
    return undefined;
  }

  /** Releases this host's slot, recording why, so other hosts can say why it left. */
  async #leave(lease: Lease, why: string): Promise<void> {
    const state = { left: why, holder: this.#host.port.holder };
    try {
      await lease.release({ state });
    } catch (err) {
      safeLog(this.#host.port.logger, 'warn', { err: errorText(err) }, 'placement: slot not released; it will expire');
    }
  }

  /** Recomputes owners from the roster; tells which jobs moved to or from this host, and why. */
  #update(records: LeaseRecord[]): void {
    const { port } = this.#host;
    const me = port.holder;
    const live = records.filter((record) => record.holder !== null).map(rosterHost);
    const group = live.filter((host) => host.digest === this.#digest).map((host) => host.holder);
    // Our own slot may have been taken after the read began: we are live while we hold it.
    if (this.#lease?.held && !group.includes(me)) group.push(me);
    group.sort();
    const previous = this.#owners;
    if (previous && sameList(group, this.#group) && previous.size === this.#jobs.length) return;
    const owners = assignOwners(this.#jobs, group);
    const joined = group.filter((holder) => !this.#group.includes(holder));
    const left = this.#group.filter((holder) => !group.includes(holder));
    this.#group = group;
    this.#owners = owners;
    const gained: string[] = [];
    const lost: string[] = [];
    for (const key of this.#jobs) {
      const mine = owners.get(key) === me;
      const wasMine = previous ? previous.get(key) === me : true;
      if (mine && !wasMine) gained.push(key);
      if (!mine && wasMine) lost.push(key);
    }
    const event: PlacementEvent = {
      holder: me,
      hosts: group.length,
      joined,
      left: left.map((holder) => ({ holder, reason: leftReason(records, holder) })),
      owned: this.#jobs.filter((key) => owners.get(key) === me).length,
      gained,
      lost,
    };
    const why = [
      ...joined.map((holder) => `${holder} joined`),
      ...event.left.map((host) => `${host.holder} left (${host.reason})`),
    ];
    const fields = { hosts: event.hosts, owned: event.owned, gained: gained.length, lost: lost.length };
    safeLog(port.logger, 'info', fields, `placement changed${why.length ? `: ${why.join(', ')}` : ''}`);
    port.emit('placement:changed', event);
    if (gained.length > 0) this.#host.wake(gained);
  }
}

function slotIndex(record: LeaseRecord): number {
  return Number(record.key.slice(HOSTS_PREFIX.length));
}

function rosterHost(record: LeaseRecord): RosterHost {
  const mark = record.mark;
  const digest =
    mark && typeof mark === 'object' && !Array.isArray(mark) && typeof mark.digest === 'string'
      ? mark.digest
      : undefined;
  return { holder: record.holder as string, digest };
}

/** Why `holder` is gone: it said so when it released its slot, or its lease expired. */
function leftReason(records: LeaseRecord[], holder: string): string {
  for (const record of records) {
    const state = record.state;
    if (record.holder === null && state && typeof state === 'object' && !Array.isArray(state)) {
      if (state.holder === holder && typeof state.left === 'string') return state.left;
    }
  }
  return 'its liveness lease expired: no heartbeat for a TTL';
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
