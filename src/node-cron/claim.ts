/**
 * Claiming one slot of a job that another scheduler fires (node-cron, `@nestjs/schedule`):
 * the lease is keyed by the job's name, and the last claimed slot is kept in the key's
 * fenced state (L8), so a host that fires late, after the runner released the lease,
 * still sees the slot as taken. See docs/node-cron.md#how-a-slot-is-claimed.
 * @module
 */
import { requestTimeout } from '../defaults.js';
import { type Duration, parseDuration } from '../duration.js';
import { safeLog } from '../events.js';
import type { Lease } from '../lease.js';
import type { Leasehold } from '../leasehold.js';
import type { JsonValue } from '../store.js';
import { errorText } from '../store-kit/index.js';

/** The state a claimed key carries: the newest slot claimed, by whom, and how its run went. */
export interface SlotClaimState {
  /** Format version. */
  v: 1;
  /** The newest claimed slot, ISO-8601 UTC. */
  slot: string;
  /** Who claimed it. */
  holder: string;
  /** Fencing token of the claim. */
  token: number;
  /** `started` while the run goes; `ok` or `error` once it ended. */
  phase: 'started' | 'ok' | 'error';
}

/** The slot a key's state says was claimed last, if it is a claim record. */
export function lastClaimedSlot(state: JsonValue | null | undefined): string | undefined {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) return undefined;
  const slot = (state as { slot?: unknown }).slot;
  return typeof slot === 'string' ? slot : undefined;
}

/**
 * Takes the job's lease for one slot, or answers null: when another host holds the key
 * (running this slot, or still running an older one: the overlap is skipped), or when
 * the key's state already names this slot or a newer one. The returned lease has the
 * claim written under it; end it with {@link finishSlot}.
 * @throws StoreUnavailableError when the store cannot be reached (the slot is not run)
 */
export async function claimSlot(lh: Leasehold, key: string, slot: Date, ttl: Duration): Promise<Lease | null> {
  const ttlMs = parseDuration(ttl, 'ttl');
  const lease = await lh.tryAcquire(key, { ttl: ttlMs });
  if (!lease) return null;
  try {
    // Stores that return the state with the grant save this read; the others are read
    // while we hold the key, so what we read is the last committed claim.
    const state =
      lease.acquiredState !== undefined
        ? lease.acquiredState
        : ((await lh.store.inspect(key, { signal: AbortSignal.timeout(requestTimeout(ttlMs)) }))?.state ?? null);
    const iso = slot.toISOString();
    const last = lastClaimedSlot(state);
    // ISO-8601 UTC strings of one length order as the instants do.
    if (last !== undefined && last >= iso) {
      await lease.release();
      return null;
    }
    const claim: SlotClaimState = { v: 1, slot: iso, holder: lh.holder, token: lease.token, phase: 'started' };
    if (await lease.writeState({ ...claim })) return lease;
    await lease.release();
    return null;
  } catch (err) {
    await lease.release().catch(() => false);
    throw err;
  }
}

/**
 * Records how the claimed slot's run ended and releases the lease. Never throws: a
 * failed write or release is logged, and the lease then expires by its TTL.
 */
export async function finishSlot(lh: Leasehold, lease: Lease, slot: Date, ok: boolean): Promise<void> {
  try {
    if (lease.held) {
      const claim: SlotClaimState = {
        v: 1,
        slot: slot.toISOString(),
        holder: lh.holder,
        token: lease.token,
        phase: ok ? 'ok' : 'error',
      };
      await lease.writeState({ ...claim });
    }
  } catch (err) {
    safeLog(lh.logger, 'warn', { key: lease.key, token: lease.token, err: errorText(err) }, 'recording the run failed');
  } finally {
    await lease.release().catch((err: unknown) => {
      safeLog(lh.logger, 'warn', { key: lease.key, err: errorText(err) }, 'release failed; the lease expires by TTL');
    });
  }
}
