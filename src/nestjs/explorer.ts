/**
 * Finds the providers' and controllers' `@Every` / `@Cron` methods and registers them as
 * jobs on the module's Leasehold; ties every scanned instance to it (for `@Exclusive` and
 * `@OncePerSlot`); starts the jobs on bootstrap and stops them on shutdown.
 * @module
 */
import type { OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { parseDuration, type Duration } from '../duration.js';
import { safeLog } from '../events.js';
import type { Leasehold } from '../leasehold.js';
import type { LeaseStore } from '../store.js';
import type { JobContext } from '../scheduler/types.js';
import { bindInstance, runInScope, setActive } from './context.js';
import { jobMetadataOf, type JobMetadata } from './decorators.js';
import { checkOncePerSlot } from './schedule.js';

/** The module's Leasehold and what it must do at start and shutdown. */
export interface LeaseholdRuntime {
  /** The instance every decorated method uses. */
  readonly lh: Leasehold;
  /** The store the module opened from `url`, closed at shutdown; undefined when it was given. */
  readonly ownedStore: LeaseStore | undefined;
  /** Grace for running jobs at shutdown. */
  readonly graceMs: number | undefined;
  /** Whether to start the jobs on bootstrap. */
  readonly start: boolean;
}

/** Discovery, registration and lifecycle of the module's jobs (one per module instance). */
export class LeaseholdExplorer implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  readonly #runtime: LeaseholdRuntime;
  readonly #discovery: DiscoveryService;
  readonly #scanner: MetadataScanner;
  #stopped = false;

  constructor(runtime: LeaseholdRuntime, discovery: DiscoveryService, scanner: MetadataScanner) {
    this.#runtime = runtime;
    this.#discovery = discovery;
    this.#scanner = scanner;
  }

  /** Registers every decorated method; a bad option fails the app's start (ConfigError). */
  onModuleInit(): void {
    const { lh } = this.#runtime;
    for (const wrapper of [...this.#discovery.getProviders(), ...this.#discovery.getControllers()]) {
      const instance: unknown = wrapper.instance;
      if (typeof instance !== 'object' || instance === null) continue;
      const prototype: unknown = Object.getPrototypeOf(instance);
      if (typeof prototype !== 'object' || prototype === null) continue;
      bindInstance(instance, lh);
      for (const name of this.#scanner.getAllMethodNames(prototype)) {
        const method: unknown = (instance as Record<string, unknown>)[name];
        checkOncePerSlot(method);
        const metadata = jobMetadataOf(method);
        if (!metadata) continue;
        if (!wrapper.isDependencyTreeStatic()) {
          safeLog(lh.logger, 'warn', { provider: wrapper.name, method: name }, 'request-scoped job not scheduled');
          continue;
        }
        this.#register(instance, name, metadata);
      }
    }
    setActive(lh, true);
  }

  #register(instance: object, method: string, metadata: JobMetadata): void {
    const { name, ...options } = metadata.options;
    const key = name ?? `${instance.constructor.name}.${method}`;
    const run = (instance as Record<string, (ctx: JobContext) => unknown>)[method] as (ctx: JobContext) => unknown;
    const handler = (ctx: JobContext) => runInScope({ job: ctx }, () => run.call(instance, ctx));
    const { lh } = this.#runtime;
    if (metadata.kind === 'every') lh.every(metadata.spec, key, handler, options);
    else lh.cron(metadata.spec as string, key, handler, options);
  }

  /** Starts the jobs (unless the module was told `start: false`). */
  async onApplicationBootstrap(): Promise<void> {
    if (this.#runtime.start) await this.#runtime.lh.start();
  }

  /** Stops the jobs, releases every lease (S7) and closes a store opened from `url`. */
  async onApplicationShutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const { lh, ownedStore, graceMs } = this.#runtime;
    try {
      await lh.stop(graceMs === undefined ? {} : { grace: graceMs });
    } finally {
      setActive(lh, false);
      await ownedStore?.close();
    }
  }
}

/** The grace option, checked once. */
export function checkGrace(grace: Duration | undefined): number | undefined {
  return grace === undefined ? undefined : parseDuration(grace, 'grace', { allowZero: true });
}
