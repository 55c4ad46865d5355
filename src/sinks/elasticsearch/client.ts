import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';

/** How to reach and authenticate to the cluster; secrets are already resolved values. */
export interface ElasticsearchConnection {
  readonly hosts?: readonly string[];
  readonly cloudId?: string;
  readonly apiKey?: string;
  readonly username?: string;
  readonly password?: string;
  readonly bearer?: string;
  /** PEM file of the CA that signed the cluster's certificate. */
  readonly caFile?: string;
  /** SHA-256 fingerprint of the cluster's CA certificate (as Elasticsearch prints it at first start). */
  readonly caFingerprint?: string;
  readonly requestTimeoutMs?: number;
  /** gzip request bodies (default on). */
  readonly compression?: boolean;
}

/**
 * The official client, set up for the sink: gzip on, and no transport-level retries, because the sink
 * owns retrying (per item, with backoff, without limit) and setup wants errors at once.
 */
export function createElasticsearchClient(c: ElasticsearchConnection): Client {
  const options: ClientOptions = {
    compression: c.compression ?? true,
    maxRetries: 0,
    requestTimeout: c.requestTimeoutMs ?? 60_000,
  };
  if (c.cloudId) options.cloud = { id: c.cloudId };
  else options.nodes = [...(c.hosts ?? ['http://127.0.0.1:9200'])];
  if (c.apiKey) options.auth = { apiKey: c.apiKey };
  else if (c.bearer) options.auth = { bearer: c.bearer };
  else if (c.username) options.auth = { username: c.username, password: c.password ?? '' };
  if (c.caFile) options.tls = { ca: readFileSync(c.caFile, 'utf8') };
  if (c.caFingerprint) options.caFingerprint = c.caFingerprint;
  return new Client(options);
}

/** Connection settings from ELASTICSEARCH_* environment variables, for commands given only a URL. */
export function connectionFromEnv(url: string, env: NodeJS.ProcessEnv = process.env): ElasticsearchConnection {
  return {
    hosts: [url],
    ...(env.ELASTICSEARCH_API_KEY ? { apiKey: env.ELASTICSEARCH_API_KEY } : {}),
    ...(env.ELASTICSEARCH_USERNAME
      ? { username: env.ELASTICSEARCH_USERNAME, password: env.ELASTICSEARCH_PASSWORD ?? '' }
      : {}),
    ...(env.ELASTICSEARCH_BEARER ? { bearer: env.ELASTICSEARCH_BEARER } : {}),
    ...(env.ELASTICSEARCH_CA_FILE ? { caFile: env.ELASTICSEARCH_CA_FILE } : {}),
    ...(env.ELASTICSEARCH_CA_FINGERPRINT ? { caFingerprint: env.ELASTICSEARCH_CA_FINGERPRINT } : {}),
  };
}
