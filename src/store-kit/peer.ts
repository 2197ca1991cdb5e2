/**
 * Loading a store's SDK on demand. SDKs are optional peer dependencies: the core never
 * imports one, and a store imports its own only when it first needs a client.
 * @module
 */
import { ConfigError } from '../errors.js';

/**
 * Imports an optional peer package, for a store named `store`. `load` is the import
 * (`() => import('pg')`, written by the store so bundlers see it); `pick` takes what the
 * store needs from the module (CommonJS packages arrive under `default`).
 * @throws ConfigError "`<store>` store: the "`<pkg>`" package is needed; install it with
 *   `npm install <pkg>`", with the import error as cause.
 */
export async function importPeer<T>(
  store: string,
  pkg: string,
  load: () => Promise<unknown>,
  pick: (mod: Record<string, unknown>) => T | undefined = (mod) => mod as T,
): Promise<T> {
  let picked: T | undefined;
  try {
    const mod = (await load()) as Record<string, unknown>;
    picked = pick(mod) ?? pick((mod.default ?? {}) as Record<string, unknown>);
  } catch (err) {
    throw new ConfigError(`${store} store: the "${pkg}" package is needed; install it with \`npm install ${pkg}\``, {
      cause: err,
    });
  }
  if (picked === undefined) {
    throw new ConfigError(`${store} store: the installed "${pkg}" package does not export what this store needs`);
  }
  return picked;
}
