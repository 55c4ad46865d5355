import type { Client } from '@elastic/elasticsearch';
import { SearchBulkSink, type SearchBulkSinkOptions } from '../search/bulk-sink.js';
import { ElasticsearchTransport } from './transport.js';

export interface BulkSinkOptions extends Omit<SearchBulkSinkOptions, 'transport'> {
  readonly client: Client;
}

/** The search bulk sink over the official Elasticsearch client: what callers holding a Client construct. */
export class ElasticsearchBulkSink extends SearchBulkSink {
  constructor({ client, ...options }: BulkSinkOptions) {
    super({ ...options, transport: new ElasticsearchTransport(client) });
  }
}
