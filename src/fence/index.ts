/**
 * `leasehold/fence` — the resource side of fencing: helpers that make a resource refuse
 * a write carrying a token lower than the highest it has seen, on PostgreSQL, MySQL,
 * Redis, Azure Blob and HTTP servers. Which to use where: docs/fencing.md.
 * @module
 */
export { StaleTokenError } from '../errors.js';
export { checkFence, type FenceCallOptions, type FenceStore, type FenceVerdict } from './common.js';
export { MemoryFence } from './memory.js';
export { DEFAULT_FENCE_TABLE, ensureFenceTable, fence, fenceTableSql, SqlFence, tryFence } from './sql.js';
export type { FenceDialect, SqlFenceClient, SqlFenceOptions } from './sql.js';
export { fencedSet, RedisFence, tryFencedSet, type FencedSetOptions, type RedisFenceClient } from './redis.js';
export { AzureBlobFence, fencedUpload, TOKEN_METADATA, tryFencedUpload } from './azure-blob.js';
export type { FenceBlobClient, FenceContainerClient, FencedUploadOptions } from './azure-blob.js';
export {
  expressFence,
  fastifyFence,
  fenceHeaders,
  httpFence,
  KEY_HEADER,
  readFenceHeaders,
  TOKEN_HEADER,
} from './http.js';
export type { FenceHeaders, HttpFenceOptions } from './http.js';
