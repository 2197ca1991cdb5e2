/**
 * The public types of leasehold's telemetry: the `telemetry` option of `Leasehold`. The
 * providers are typed by their shape, so these types need no OpenTelemetry package.
 * docs/operating.md, "Metrics" and "Traces".
 * @module
 */

/**
 * An OpenTelemetry `MeterProvider` (from `@opentelemetry/sdk-metrics`, or any
 * implementation of the API's interface), typed by the one method leasehold calls.
 */
export interface MeterProviderLike {
  /** Returns the meter leasehold creates its instruments on. */
  getMeter(name: string, version?: string, options?: object): unknown;
}

/**
 * An OpenTelemetry `TracerProvider` (from `@opentelemetry/sdk-trace-base` or
 * `sdk-trace-node`, or any implementation of the API's interface), typed by the one method
 * leasehold calls.
 */
export interface TracerProviderLike {
  /** Returns the tracer leasehold starts its spans on. */
  getTracer(name: string, version?: string, options?: object): unknown;
}

/**
 * Options of leasehold's telemetry (the `telemetry` option of `Leasehold`). Metrics and
 * traces go through `@opentelemetry/api` (an optional peer dependency); without it
 * installed, or with no SDK registered, they cost next to nothing and go nowhere. The
 * Prometheus text of the same metrics ({@link LeaseholdTelemetry.prometheus}) needs no
 * package.
 */
export interface TelemetryOptions {
  /**
   * Where metrics go.
   * @defaultValue the global meter provider (`metrics.setGlobalMeterProvider`, which
   *   OpenTelemetry's `NodeSDK` sets); register it before creating the `Leasehold`
   */
  meterProvider?: MeterProviderLike;
  /**
   * Where run spans go.
   * @defaultValue the global tracer provider (`trace.setGlobalTracerProvider`, which
   *   `NodeSDK` and `provider.register()` set)
   */
  tracerProvider?: TracerProviderLike;
}

/** Option names of `telemetry`. */
export const TELEMETRY_OPTIONS = [
  'meterProvider',
  'tracerProvider',
] as const satisfies readonly (keyof TelemetryOptions)[];

/**
 * This instance's telemetry, as `lh.telemetry`. Metrics and traces go to OpenTelemetry
 * when `@opentelemetry/api` is installed; {@link LeaseholdTelemetry.prometheus} gives the
 * same metrics as Prometheus text without any package.
 */
export interface LeaseholdTelemetry {
  /** False when the `Leasehold` was created with `telemetry: false`: nothing is recorded. */
  readonly enabled: boolean;
  /**
   * This process's metrics (the table in docs/operating.md) in Prometheus text exposition
   * format 0.0.4, from an in-process aggregate of what this instance recorded: for the
   * status server's `metrics` hook, or any `/metrics` endpoint. Empty when disabled.
   *
   * @example
   * ```ts
   * startStatusServer({ store, metrics: () => lh.telemetry.prometheus() });
   * ```
   */
  prometheus(): string;
}
