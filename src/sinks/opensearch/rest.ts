import { type Client, errors } from '@opensearch-project/opensearch';
import { type RestAnswer, type RestClient, RestUnreachableError } from '../search/rest.js';

/** The OpenSearch client's transport as a RestClient (its auth, TLS and SigV4 signing included). */
export function openSearchRest(client: Client): RestClient {
  return {
    async request(method, path, body, options): Promise<RestAnswer> {
      try {
        const r = await client.transport.request(
          { method, path, ...(body === undefined ? {} : { body: body as never }) },
          options?.timeoutMs === undefined ? {} : { requestTimeout: options.timeoutMs },
        );
        return { status: r.statusCode ?? 200, body: r.body };
      } catch (err) {
        if (err instanceof errors.ResponseError) return { status: err.statusCode, body: err.body };
        if (
          err instanceof errors.ConnectionError ||
          err instanceof errors.NoLivingConnectionsError ||
          err instanceof errors.TimeoutError
        )
          throw new RestUnreachableError(err.message, { cause: err });
        throw err;
      }
    },
  };
}
