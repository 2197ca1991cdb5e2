/**
 * The administrative break of a lease blob (`forceRelease`): break the Azure lease, then
 * rewrite the metadata so the broken lease's holder can no longer act. Why the rewrite:
 * docs/stores/azure-blob.md ("How it keeps the contract").
 * @module
 */
import type { BlobGetPropertiesResponse, BlockBlobClient } from '@azure/storage-blob';
import { restInfo } from './errors.js';
import { META } from './naming.js';

/**
 * Breaks the blob's lease if it has one; answers whether a lease was ended. The token,
 * state and mark stay. Throws the SDK's other errors as they are; the store maps them.
 */
export async function breakBlob(
  blob: BlockBlobClient,
  requestOptions: () => { abortSignal: AbortSignal },
): Promise<boolean> {
  let props: BlobGetPropertiesResponse;
  try {
    props = await blob.getProperties(requestOptions());
  } catch (err) {
    if (restInfo(err).status === 404) return false;
    throw err;
  }
  if (props.leaseState !== 'leased') return false;
  try {
    await blob.getBlobLeaseClient().breakLease(0, requestOptions());
  } catch (err) {
    if (restInfo(err).status === 409) return false; // it ended by itself meanwhile
    throw err;
  }
  // Change the ETag and forget the lease id, so the broken lease's holder can no longer
  // act even where the service would let a lease id release a broken lease.
  const meta = { ...(props.metadata ?? {}), [META.lease]: 'broken', [META.holder]: '' };
  try {
    const conditions = props.etag ? { conditions: { ifMatch: props.etag } } : {};
    await blob.setMetadata(meta, { ...requestOptions(), ...conditions });
  } catch (err) {
    // Someone acquired the key right after the break: their token write moved the ETag
    // already, which is all we wanted.
    if (restInfo(err).status !== 412) throw err;
  }
  return true;
}
