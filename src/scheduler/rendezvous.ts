/**
 * Which live host owns which job: rendezvous (highest random weight) hashing with bounded
 * loads. Pure: no I/O, no clock. See docs/placement.md.
 *
 * Every host of a group computes the same assignment from the same view (the same hosts,
 * the same job keys): jobs are taken in the order of their hash, and each goes to the
 * host that scores highest for it among those not yet full. "Full" is exact balance:
 * every host gets ⌊J/H⌋ or ⌈J/H⌉ jobs, so a fleet shares its work evenly even with few
 * jobs per host (plain rendezvous hashing leaves some hosts idle there). A host joining
 * or leaving moves about its share of the jobs (a little more, because of the bound).
 * @module
 */

/** FNV-1a, 32 bits, over UTF-16 code units: fast, and the same on every host. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3's finalizer: spreads every input bit over every output bit. */
function mix(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** The weight of `host` (its mixed hash) for a job (its hash): higher wins. */
function weight(hostHash: number, jobHash: number): number {
  return mix((jobHash ^ hostHash) >>> 0);
}

/**
 * Owner of every job among `hosts` (holder identities). Deterministic for a given set of
 * hosts and jobs, whatever order they come in. Empty when there are no hosts.
 */
export function assignOwners(jobKeys: Iterable<string>, hosts: Iterable<string>): Map<string, string> {
  const owners = new Map<string, string>();
  const hostList = [...new Set(hosts)].sort();
  if (hostList.length === 0) return owners;
  const hostHashes = hostList.map((host) => mix(fnv1a(host)));
  const jobs = [...new Set(jobKeys)].map((key) => ({ key, hash: fnv1a(key) }));
  jobs.sort((a, b) => a.hash - b.hash || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const floor = Math.floor(jobs.length / hostList.length);
  // Hosts that may still take one job over the floor: as many as the remainder.
  let overFloor = jobs.length - floor * hostList.length;
  const load = new Array<number>(hostList.length).fill(0);
  for (const job of jobs) {
    let best = -1;
    let bestWeight = -1;
    for (let index = 0; index < hostList.length; index++) {
      const taken = load[index] as number;
      if (taken > floor || (taken === floor && overFloor === 0)) continue;
      const score = weight(hostHashes[index] as number, job.hash);
      // Ties (rare) go to the host that sorts first: hostList is sorted, so `>` keeps it.
      if (score > bestWeight) {
        bestWeight = score;
        best = index;
      }
    }
    if ((load[best] as number) === floor) overFloor--;
    load[best] = (load[best] as number) + 1;
    owners.set(job.key, hostList[best] as string);
  }
  return owners;
}

/** A digest of a set of job keys: hosts with the same digest run the same jobs. */
export function jobSetDigest(jobKeys: Iterable<string>): string {
  const sorted = [...new Set(jobKeys)].sort();
  let first = 0x811c9dc5;
  let second = 0x1b873593;
  for (const key of sorted) {
    first = mix((first ^ fnv1a(key)) >>> 0);
    second = mix((second + fnv1a(`${key}\u0000`)) >>> 0);
  }
  return `${sorted.length}-${first.toString(16).padStart(8, '0')}${second.toString(16).padStart(8, '0')}`;
}
