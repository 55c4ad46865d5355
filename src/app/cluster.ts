// A search cluster as the commands see it: either engine (Elasticsearch or OpenSearch) behind the two
// engine-neutral seams, RestClient (setup, the custody audit, the fleet's state store) and BulkTransport (the
// bulk sink), each over that engine's own official client with its auth and TLS.
import type { ElasticsearchConfig, OpenSearchConfig } from '../config/schema.js';
import { redactUrl } from '../shared/redact.js';
import type { ElasticsearchConnection } from '../sinks/elasticsearch/client.js';
import type { OpenSearchConnection } from '../sinks/opensearch/client.js';
import type { RestClient } from '../sinks/search/rest.js';
import type { BulkTransport } from '../sinks/search/transport.js';

export type ClusterKind = 'elasticsearch' | 'opensearch';

export interface SearchCluster {
  readonly kind: ClusterKind;
  /** For messages: the engine and its hosts, passwords redacted. */
  readonly where: string;
  readonly rest: RestClient;
  readonly transport: BulkTransport;
  close(): Promise<void>;
}

/** Where an Elasticsearch output points, for messages: the cloud id's name or the hosts, passwords redacted. */
export function describeElasticsearch(es: ElasticsearchConfig): string {
  return es.cloud_id ? `cloud ${es.cloud_id.split(':')[0]}` : es.hosts.map(redactUrl).join(', ');
}

export function elasticsearchConnection(es: ElasticsearchConfig): ElasticsearchConnection {
  return {
    hosts: es.hosts,
    ...(es.cloud_id ? { cloudId: es.cloud_id } : {}),
    ...(es.api_key ? { apiKey: es.api_key.reveal() } : {}),
    ...(es.username ? { username: es.username, password: es.password?.reveal() ?? '' } : {}),
    ...(es.bearer ? { bearer: es.bearer.reveal() } : {}),
    ...(es.ca ? { caFile: es.ca } : {}),
    ...(es.ca_fingerprint ? { caFingerprint: es.ca_fingerprint } : {}),
    compression: es.compression === 'auto' ? compressionPays(es) : es.compression === 'on',
  };
}

export function openSearchConnection(os: OpenSearchConfig): OpenSearchConnection {
  return {
    hosts: os.hosts,
    ...(os.username ? { username: os.username, password: os.password?.reveal() ?? '' } : {}),
    ...(os.aws_sigv4 ? { awsSigv4: os.aws_sigv4 } : {}),
    ...(os.ca ? { caFile: os.ca } : {}),
    compression: os.compression === 'auto' ? compressionPays(os) : os.compression === 'on',
  };
}

/** gzip costs CPU on both sides: worth it over a real network, not to a cluster on this host or on plain http. */
export function compressionPays(es: { hosts: readonly string[]; cloud_id?: string | undefined }): boolean {
  if (es.cloud_id) return true;
  return es.hosts.some((h) => {
    const url = new URL(h);
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
    return url.protocol === 'https:' && !local;
  });
}

/**
 * Either output's modules, loaded only when that output is used: each client costs about 0.1 s to load, which
 * `run` spends while the device logins are prepared (and no other command pays for the client it does not use).
 */
async function loadElasticsearch() {
  const [client, rest, transport] = await Promise.all([
    import('../sinks/elasticsearch/client.js'),
    import('../sinks/elasticsearch/rest.js'),
    import('../sinks/elasticsearch/transport.js'),
  ]);
  return { ...client, ...rest, ...transport };
}

async function loadOpenSearch() {
  const [client, rest, transport] = await Promise.all([
    import('../sinks/opensearch/client.js'),
    import('../sinks/opensearch/rest.js'),
    import('../sinks/opensearch/transport.js'),
  ]);
  return { ...client, ...rest, ...transport };
}

export async function openElasticsearch(connection: ElasticsearchConnection, where: string): Promise<SearchCluster> {
  const es = await loadElasticsearch();
  const client = es.createElasticsearchClient(connection);
  return {
    kind: 'elasticsearch',
    where: `Elasticsearch ${where}`,
    rest: es.elasticsearchRest(client),
    transport: new es.ElasticsearchTransport(client),
    close: () => client.close(),
  };
}

export async function openOpenSearch(connection: OpenSearchConnection): Promise<SearchCluster> {
  const os = await loadOpenSearch();
  const client = os.createOpenSearchClient(connection);
  return {
    kind: 'opensearch',
    where: `OpenSearch ${connection.hosts.map(redactUrl).join(', ')}`,
    rest: os.openSearchRest(client),
    transport: new os.OpenSearchTransport(client),
    close: () => client.close(),
  };
}

/** The cluster of a configured search output. */
export function openConfiguredCluster(
  kind: ClusterKind,
  output: { elasticsearch?: ElasticsearchConfig | undefined; opensearch?: OpenSearchConfig | undefined },
): Promise<SearchCluster> {
  if (kind === 'opensearch') return openOpenSearch(openSearchConnection(output.opensearch!));
  const es = output.elasticsearch!;
  return openElasticsearch(elasticsearchConnection(es), describeElasticsearch(es));
}

/** Connection settings from OPENSEARCH_* environment variables, for commands given only a URL. */
export function openSearchConnectionFromEnv(url: string, env: NodeJS.ProcessEnv = process.env): OpenSearchConnection {
  return {
    hosts: [url],
    ...(env.OPENSEARCH_USERNAME ? { username: env.OPENSEARCH_USERNAME, password: env.OPENSEARCH_PASSWORD ?? '' } : {}),
    ...(env.OPENSEARCH_CA_FILE ? { caFile: env.OPENSEARCH_CA_FILE } : {}),
  };
}
