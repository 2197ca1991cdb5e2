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

/** Every built-in store, in the order tables list them. */
export const STORES: readonly StoreEntry[] = [
  { name: 'memory', schemes: ['memory'], network: false, load: () => import('./memory/index.js') },
  { name: 'file', schemes: ['file'], network: false, load: () => import('./file/index.js') },
  {
    name: 'redis',
    schemes: ['redis', 'rediss'],
    peer: 'ioredis',
    network: true,
    load: () => import('./redis/index.js'),
  },
  {
    name: 'postgres',
    schemes: ['postgres', 'postgresql'],
    peer: 'pg',
    network: true,
    load: () => import('./postgres/index.js'),
  },
  {
    name: 'mysql',
    schemes: ['mysql', 'mariadb'],
    peer: 'mysql2',
    network: true,
    load: () => import('./mysql/index.js'),
  },
  {
    name: 'azure-blob',
    schemes: ['azure-blob', 'https'],
    peer: '@azure/storage-blob',
    network: true,
    load: () => import('./azure-blob/index.js'),
  },
  {
    name: 'nats',
    schemes: ['nats'],
    peer: '@nats-io/kv',
    network: true,
    load: () => import('./nats/index.js'),
  },
  { name: 'etcd', schemes: ['etcd', 'etcds'], peer: 'etcd3', network: true, load: () => import('./etcd/index.js') },
  {
    name: 'dynamodb',
    schemes: ['dynamodb'],
    peer: '@aws-sdk/client-dynamodb',
    network: true,
    load: () => import('./dynamodb/index.js'),
  },
];

/** The names of the built-in stores, in table order. */
export const STORE_NAMES: readonly string[] = STORES.map((entry) => entry.name);

/** The built-in store named `name`, or undefined. */
export function storeEntry(name: string): StoreEntry | undefined {
  return STORES.find((entry) => entry.name === name);
}
