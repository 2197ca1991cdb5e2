/**
 * Azure Blob clients for tests: a container client on Azurite whose pipeline records
 * every request and can drop chosen replies (the request reaches the service, the
 * caller sees an error), built only from the SDK's public pipeline API.
 */
import {
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type HttpOperationResponse,
  type RequestPolicy,
  type WebResource,
} from '@azure/storage-blob';
import { type Azurite, DEV_ACCOUNT, DEV_KEY } from './azurite.js';

/** One recorded request: `PUT lease:acquire`, `GET blob`, `PUT metadata`, `HEAD blob`, … */
export type RequestLabel = string;

/** A container client with a request log and a reply dropper. */
export interface InstrumentedClient {
  client: ContainerClient;
  /** Every request sent, in order. */
  log: RequestLabel[];
  /** When set, a request for which it answers true is sent, but its reply is replaced by an error. */
  dropReply: ((label: RequestLabel) => boolean) | undefined;
}

/** Names a request by method, `comp` query parameter and lease action. */
export function labelOf(req: WebResource): RequestLabel {
  const url = new URL(req.url);
  const comp = url.searchParams.get('comp');
  const restype = url.searchParams.get('restype');
  const action = req.headers.get('x-ms-lease-action');
  const what = comp === 'lease' ? `lease:${action}` : (comp ?? (restype === 'container' ? 'container' : 'blob'));
  return `${req.method} ${what}`;
}

/** Builds an instrumented client for `container` on `az`, one try per request. */
export function instrumentedClient(az: Azurite, container: string): InstrumentedClient {
  const pipeline = newPipeline(new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY), {
    retryOptions: { maxTries: 1, tryTimeoutInMs: 10_000 },
  });
  const out: InstrumentedClient = { client: undefined as unknown as ContainerClient, log: [], dropReply: undefined };
  pipeline.factories.push({
    create: (next: RequestPolicy): RequestPolicy => ({
      async sendRequest(req: WebResource): Promise<HttpOperationResponse> {
        const label = labelOf(req);
        out.log.push(label);
        const res = await next.sendRequest(req);
        if (out.dropReply?.(label)) {
          out.dropReply = undefined;
          throw Object.assign(new Error(`reply to ${label} lost (test)`), { code: 'ECONNRESET' });
        }
        return res;
      },
    }),
  });
  out.client = new ContainerClient(`${az.blobEndpoint}/${container}`, pipeline);
  return out;
}
