import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws';

/** How to reach and authenticate to an OpenSearch cluster; secrets are already resolved values. */
export interface OpenSearchConnection {
  readonly hosts: readonly string[];
  readonly username?: string;
  readonly password?: string;
  /** Amazon OpenSearch Service (`es`) or Serverless (`aoss`): requests signed with AWS SigV4. */
  readonly awsSigv4?: { readonly region: string; readonly service: 'es' | 'aoss' };
  /** PEM file of the CA that signed the cluster's certificate. */
  readonly caFile?: string;
  readonly requestTimeoutMs?: number;
  readonly compression?: boolean;
}

/**
 * The official OpenSearch client, set up like the Elasticsearch one: no transport-level retries (the sink owns
 * retrying), gzip as configured. SigV4 takes the standard AWS environment variables (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), read at each signing so rotated credentials are picked up.
 */
export function createOpenSearchClient(c: OpenSearchConnection, env: NodeJS.ProcessEnv = process.env): Client {
  const options: ClientOptions = {
    nodes: [...c.hosts],
    maxRetries: 0,
    requestTimeout: c.requestTimeoutMs ?? 60_000,
    ...(c.compression ? { compression: 'gzip' as const } : {}),
  };
  if (c.username) options.auth = { username: c.username, password: c.password ?? '' };
  if (c.caFile) options.ssl = { ca: readFileSync(c.caFile, 'utf8') };
  if (c.awsSigv4) {
    const signer = AwsSigv4Signer({
      region: c.awsSigv4.region,
      service: c.awsSigv4.service,
      getCredentials: async () => {
        const accessKeyId = env.AWS_ACCESS_KEY_ID;
        const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
        if (!accessKeyId || !secretAccessKey)
          throw new Error('aws_sigv4: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
        return {
          accessKeyId,
          secretAccessKey,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        };
      },
    });
    Object.assign(options, signer);
  }
  return new Client(options);
}
