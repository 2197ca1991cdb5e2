/**
 * The one list of built-in stores: name, URL schemes, module and SDK. `openStore`, the
 * benchmark and the fault harness take their lists from here; `package.json` exports one
 * subpath per entry (a test checks the two agree). Adding a store: docs/architecture.md.
 * @module
 */
import type { LeaseStore } from '../store.js';

/** Options passed through `openStore` to a store's URL factory. */
export interface OpenStoreOptions {
  /** Key prefix / namespace, where the store supports one. */
  prefix?: string;
}

/** Builds a store from a URL. Registered per scheme with `registerStore`. */
export type StoreFactory = (url: string, options: OpenStoreOptions) => LeaseStore | Promise<LeaseStore>;

/** One built-in store. */
export interface StoreEntry {
  /** The store's name: its subpath export (`leasehold/<name>`), folder and docs page (`docs/stores/<name>.md`). */
  readonly name: string;
  /** URL schemes `openStore` opens it for, without the colon. */
  readonly schemes: readonly string[];
  /** The npm package the store needs (an optional peer dependency), if any. */
  readonly peer?: string;
  /** True when the store needs a server (everything but memory and the folder store). */
  readonly network: boolean;
  /** Loads the store's module (on demand: the core never imports a store until a URL asks for it). */
  readonly load: () => Promise<{ fromUrl: StoreFactory }>;
}

/** An entry for a store that talks to a server, with its SDK as an optional peer. */
function networked(name: string, schemes: string[], peer: string, load: StoreEntry['load']): StoreEntry {
  return { name, schemes, peer, network: true, load };
}

/** Every built-in store, in the order tables list them. */
export const STORES: readonly StoreEntry[] = [
  { name: 'memory', schemes: ['memory'], network: false, load: () => import('./memory/index.js') },
  { name: 'file', schemes: ['file'], network: false, load: () => import('./file/index.js') },
  networked('redis', ['redis', 'rediss'], 'ioredis', () => import('./redis/index.js')),
  networked('postgres', ['postgres', 'postgresql'], 'pg', () => import('./postgres/index.js')),
  networked('mysql', ['mysql', 'mariadb'], 'mysql2', () => import('./mysql/index.js')),
  networked('azure-blob', ['azure-blob', 'https'], '@azure/storage-blob', () => import('./azure-blob/index.js')),
  networked('nats', ['nats'], '@nats-io/kv', () => import('./nats/index.js')),
  networked('etcd', ['etcd', 'etcds'], 'etcd3', () => import('./etcd/index.js')),
  networked('dynamodb', ['dynamodb'], '@aws-sdk/client-dynamodb', () => import('./dynamodb/index.js')),
];

/** The names of the built-in stores, in table order. */
export const STORE_NAMES: readonly string[] = STORES.map((entry) => entry.name);

/** The built-in store named `name`, or undefined. */
export function storeEntry(name: string): StoreEntry | undefined {
  return STORES.find((entry) => entry.name === name);
}
