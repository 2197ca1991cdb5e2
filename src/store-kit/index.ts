/**
 * `leasehold/store-kit` — what every store is built from, for the stores in this package
 * and for third-party ones: the lazy peer import, the signal race, error text and
 * credential masking, a reset-on-failure memo, option and URL checks, and the fenced
 * state's wire form. Certify a store built with it by `runConformance` from
 * `leasehold/testing`; the walkthrough is in docs/architecture.md ("Adding a store").
 * @module
 */
export { importPeer } from './peer.js';
export { raceSignal, type RaceOptions } from './signal.js';
export { errorText, cleanError, unavailable, throwIfAborted } from './errors.js';
export { SECRET_NAMES, isSecretName, redactUrl, redactText, secretsOf } from './redact.js';
export { once, type Once } from './once.js';
export {
  checkOptionNames,
  requireOptions,
  checkMs,
  checkCount,
  checkBoolean,
  checkPrefix,
  closest,
  hasLoneSurrogate,
} from './options.js';
export { encodeState, encodeMark, decodeState, toToken, MAX_STATE_BYTES, MAX_MARK_BYTES } from './state.js';
export { parseStoreUrl, decodeUrlPart, urlParams, type StoreUrl } from './url.js';
