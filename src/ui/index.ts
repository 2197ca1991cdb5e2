/**
 * `leasehold/ui`: the status page — every key and job with its holder, token, a live
 * countdown to expiry, last and next slot, and a timeline of recent slots (who ran each,
 * how long, the outcome, why a slot was skipped) — with `status.json` (the `leasehold
 * status --json` document), server-sent events and Prometheus `/metrics` behind it.
 * Read-only unless given controls and their secret. Works with JavaScript off; never
 * shows a credential. docs/operating.md.
 *
 * @example
 * ```ts
 * import { startStatusServer } from 'leasehold/ui';
 * const server = await startStatusServer({ store: process.env.LEASEHOLD_STORE! });
 * ```
 * @module
 */
export type { KeyStatus, ReservedStatus, StatusDocument } from '../cli/admin.js';
export { readStatus } from '../cli/admin.js';
export type { RunSummary, StateSummary } from '../cli/state.js';
export {
  adminControls,
  CONTROL_ACTIONS,
  type ControlAction,
  type ControlRequest,
  type StatusControls,
} from './controls.js';
export {
  type FastifyLikeInstance,
  fastifyStatus,
  type StatusHandler,
  type StatusPageOptions,
  statusHandler,
} from './handler.js';
export { PROMETHEUS_CONTENT_TYPE } from './metrics.js';
export {
  DEFAULT_UI_HOST,
  DEFAULT_UI_PORT,
  type StatusServer,
  type StatusServerOptions,
  startStatusServer,
} from './server.js';
