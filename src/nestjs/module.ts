/**
 * `LeaseholdModule.forRoot` / `forRootAsync`: a global module that provides the
 * `Leasehold` instance and the `LeaseholdJobContext`, and runs the decorated jobs. Built
 * from factory providers, so it needs neither decorator syntax nor emitted type metadata.
 * See docs/nestjs.md.
 * @module
 */
import type { DynamicModule, FactoryProvider, ModuleMetadata } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { Clock } from '../clock.js';
import type { Duration } from '../duration.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../events.js';
import { Leasehold } from '../leasehold.js';
import type { LeaseholdOptions } from '../leasehold-types.js';
import { openStore } from '../open.js';
import type { LeaseStore } from '../store.js';
import { checkOptionNames } from '../store-kit/index.js';
import { LeaseholdJobContext } from './context.js';
import { checkGrace, LeaseholdExplorer, type LeaseholdRuntime } from './explorer.js';

/** Options of {@link LeaseholdModule.forRoot}: a store (or its URL) and the Leasehold options. */
export interface LeaseholdModuleOptions {
  /** The store. Give this or `url`. The module never closes a store you give. */
  store?: LeaseStore;
  /** A store URL for `openStore` (`redis://…`, `postgres://…`, `file:…`); the module closes it at shutdown. */
  url?: string;
  /** This process's identity. @defaultValue `hostname:pid:random` */
  holder?: string;
  /** Receives leasehold's log lines (pino, `console`). @defaultValue silent */
  logger?: Logger;
  /** For tests: the clock leases and schedules run on. @defaultValue the process's clock */
  clock?: Clock;
  /** How long running jobs may finish at shutdown before their signals abort. @defaultValue 10s */
  grace?: Duration;
  /** Start the jobs on application bootstrap; `false` leaves `lh.start()` to you. @defaultValue true */
  start?: boolean;
  /**
   * Fleet-aware placement of the scheduled jobs, as `LeaseholdOptions.placement`.
   * @defaultValue on, with a 15 s liveness TTL
   */
  placement?: LeaseholdOptions['placement'];
}

/** Options of {@link LeaseholdModule.forRootAsync}: the options come from a factory with injected dependencies. */
export interface LeaseholdModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Returns the module's options (e.g. from a `ConfigService`). */
  useFactory: (...args: never[]) => LeaseholdModuleOptions | Promise<LeaseholdModuleOptions>;
  /** Providers handed to `useFactory`, in order. */
  inject?: FactoryProvider['inject'];
}

const OPTION_NAMES = ['store', 'url', 'holder', 'logger', 'clock', 'grace', 'start', 'placement'] as const;
/** Injection token of the module's runtime (its Leasehold and lifecycle settings). */
const RUNTIME = Symbol('leasehold:runtime');
/** Injection token of the module's options. */
const OPTIONS = Symbol('leasehold:options');

/** Checks the options once and makes the Leasehold (opening the store from `url`). */
async function makeRuntime(options: LeaseholdModuleOptions): Promise<LeaseholdRuntime> {
  checkOptionNames('LeaseholdModule', options, OPTION_NAMES);
  if ((options.store === undefined) === (options.url === undefined)) {
    throw new ConfigError('LeaseholdModule: give exactly one of store and url');
  }
  if (options.start !== undefined && typeof options.start !== 'boolean') {
    throw new ConfigError(`start: expected true or false, got ${JSON.stringify(options.start)}`);
  }
  const graceMs = checkGrace(options.grace);
  const ownedStore = options.url === undefined ? undefined : await openStore(options.url);
  const store = options.store ?? (ownedStore as LeaseStore);
  try {
    const lh = new Leasehold({
      store,
      ...(options.holder === undefined ? {} : { holder: options.holder }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.placement === undefined ? {} : { placement: options.placement }),
    });
    return { lh, ownedStore, graceMs, start: options.start ?? true };
  } catch (err) {
    await ownedStore?.close();
    throw err;
  }
}

/** The providers both entry points share, after the options provider. */
function sharedProviders(): DynamicModule['providers'] {
  return [
    { provide: RUNTIME, useFactory: makeRuntime, inject: [OPTIONS] },
    { provide: Leasehold, useFactory: (runtime: LeaseholdRuntime) => runtime.lh, inject: [RUNTIME] },
    { provide: LeaseholdJobContext, useFactory: () => new LeaseholdJobContext() },
    {
      provide: LeaseholdExplorer,
      useFactory: (runtime: LeaseholdRuntime, discovery: DiscoveryService, scanner: MetadataScanner) =>
        new LeaseholdExplorer(runtime, discovery, scanner),
      inject: [RUNTIME, DiscoveryService, MetadataScanner],
    },
  ];
}

/**
 * A global Nest module: inject `Leasehold` and `LeaseholdJobContext` anywhere; methods
 * decorated with `@Every`, `@Cron`, `@Exclusive` or `@OncePerSlot` use its instance.
 * Jobs start on application bootstrap; on shutdown (`app.close()`, or a signal with
 * `app.enableShutdownHooks()`) they stop and every lease is released.
 *
 * @example
 * ```ts
 * @Module({ imports: [LeaseholdModule.forRoot({ url: process.env.LEASEHOLD_URL })], providers: [Reports] })
 * class AppModule {}
 * ```
 */
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with static factories
export class LeaseholdModule {
  /** The module with options known up front. */
  static forRoot(options: LeaseholdModuleOptions): DynamicModule {
    return {
      module: LeaseholdModule,
      global: true,
      imports: [DiscoveryModule],
      providers: [{ provide: OPTIONS, useValue: options }, ...(sharedProviders() ?? [])],
      exports: [Leasehold, LeaseholdJobContext],
    };
  }

  /** The module with options from a factory (e.g. a `ConfigService`), which may be async. */
  static forRootAsync(options: LeaseholdModuleAsyncOptions): DynamicModule {
    checkOptionNames('LeaseholdModule.forRootAsync', options, ['useFactory', 'inject', 'imports']);
    if (typeof options.useFactory !== 'function') {
      throw new ConfigError('LeaseholdModule.forRootAsync: useFactory must be a function');
    }
    return {
      module: LeaseholdModule,
      global: true,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [
        { provide: OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        ...(sharedProviders() ?? []),
      ],
      exports: [Leasehold, LeaseholdJobContext],
    };
  }
}
