import { type Client, errors } from '@elastic/elasticsearch';
import { type RestAnswer, type RestClient, RestUnreachableError } from '../search/rest.js';

/** The Elasticsearch client's transport as a RestClient (its auth, TLS and product check included). */
export function elasticsearchRest(client: Client): RestClient {
  return {
    async request(method, path, body, options): Promise<RestAnswer> {
      try {
        const params = { method, path, ...(body === undefined ? {} : { body: body as Record<string, unknown> }) };
        const timeout = options?.timeoutMs === undefined ? {} : { requestTimeout: options.timeoutMs };
        const r = await client.transport.request(params, { meta: true, ...timeout });
        return { status: r.statusCode ?? 200, body: r.body };
      } catch (err) {
        if (err instanceof errors.ResponseError) return { status: err.statusCode ?? 0, body: err.body };
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
