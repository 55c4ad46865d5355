/**
 * The contract between the mapper and the index templates: every field a document may carry. ECS
 * fields take their type from @elastic/ecs when the templates are generated (`npm run gen:mappings`);
 * vendor fields under `encedo_hem.*` are ours and typed here. Tests fail when the mapper emits a field
 * that is not listed.
 */

/** Fields every stream's documents carry: the device that produced them and the data stream. */
const OBSERVER_AND_STREAM_FIELDS = [
  'observer.vendor',
  'observer.product',
  'observer.type',
  'observer.version',
  'observer.serial_number',
  'observer.hostname',
  'observer.name',
  'data_stream.type',
  'data_stream.dataset',
  'data_stream.namespace',
  'ecs.version',
] as const;

export const AUDIT_ECS_FIELDS = [
  '@timestamp',
  'message',
  'tags',
  'event.kind',
  'event.category',
  'event.type',
  'event.action',
  'event.code',
  'event.outcome',
  'event.sequence',
  'event.severity',
  'event.created',
  'event.ingested',
  'event.original',
  'event.hash',
  'event.module',
  'event.dataset',
  'user.id',
  'user.roles',
  'related.user',
  'error.code',
  'error.message',
  ...OBSERVER_AND_STREAM_FIELDS,
] as const;

export type VendorFieldType = 'keyword' | 'long' | 'float' | 'boolean' | 'date';

export const AUDIT_VENDOR_FIELDS: Readonly<Record<string, VendorFieldType>> = {
  'encedo_hem.event.name': 'keyword',
  'encedo_hem.result.code': 'long',
  'encedo_hem.result.name': 'keyword',
  'encedo_hem.subject': 'keyword',
  'encedo_hem.device_time': 'long',
  'encedo_hem.time_unreliable': 'boolean',
  'encedo_hem.log.file_id': 'keyword',
  'encedo_hem.log.header': 'keyword',
  'encedo_hem.log.line': 'long',
  'encedo_hem.key.id': 'keyword',
  'encedo_hem.scope': 'keyword',
  'encedo_hem.data.raw': 'keyword',
  'encedo_hem.data.text': 'keyword',
  'encedo_hem.data.time': 'date',
  'encedo_hem.data.log_file_id': 'keyword',
  'encedo_hem.data.code': 'keyword',
  'encedo_hem.data.decode_error': 'keyword',
  'encedo_hem.self_generated': 'boolean',
  'encedo_hem.integrity.status': 'keyword',
  'encedo_hem.integrity.problems': 'keyword',
  'encedo_hem.integrity.key_fingerprint': 'keyword',
  'encedo_hem.integrity.segment_line': 'long',
  'encedo_hem.integrity.signature': 'keyword',
};

/** Fields with one value per data stream: `constant_keyword` (where the engine allows it). */
export const CONSTANT_FIELDS: Readonly<Record<string, string | null>> = {
  'data_stream.type': 'logs',
  'data_stream.dataset': null, // per template
  'data_stream.namespace': null, // per data stream
  'event.module': 'encedo_hem',
  'event.dataset': null, // per template
};

export const DEADLETTER_ECS_FIELDS = [
  '@timestamp',
  'message',
  'event.kind',
  'event.original',
  'event.module',
  'event.dataset',
  'event.created',
  'event.ingested',
  'error.type',
  'error.message',
  'data_stream.type',
  'data_stream.dataset',
  'data_stream.namespace',
  'ecs.version',
] as const;

export const DEADLETTER_VENDOR_FIELDS: Readonly<Record<string, VendorFieldType>> = {
  'encedo_hem.deadletter.index': 'keyword',
  'encedo_hem.deadletter.id': 'keyword',
  'encedo_hem.deadletter.status': 'long',
};

export const INTEGRITY_ECS_FIELDS = [
  '@timestamp',
  'message',
  'tags',
  'event.kind',
  'event.category',
  'event.type',
  'event.action',
  'event.outcome',
  'event.severity',
  'event.created',
  'event.ingested',
  'event.reason',
  'event.module',
  'event.dataset',
  'file.name',
  'file.size',
  'file.hash.sha256',
  ...OBSERVER_AND_STREAM_FIELDS,
] as const;

export const INTEGRITY_VENDOR_FIELDS: Readonly<Record<string, VendorFieldType>> = {
  'encedo_hem.file.id': 'keyword',
  'encedo_hem.file.header': 'keyword',
  'encedo_hem.file.valid': 'boolean',
  'encedo_hem.file.records_total': 'long',
  'encedo_hem.file.records_verified': 'long',
  'encedo_hem.file.verified_ratio': 'float',
  'encedo_hem.file.first_seq': 'long',
  'encedo_hem.file.last_seq': 'long',
  'encedo_hem.file.first_time': 'date',
  'encedo_hem.file.last_time': 'date',
  'encedo_hem.file.segment_count': 'long',
  'encedo_hem.file.segments.line': 'long',
  'encedo_hem.file.segments.seq': 'long',
  'encedo_hem.file.segments.key_fingerprint': 'keyword',
  'encedo_hem.file.segments.signature': 'keyword',
  'encedo_hem.file.problems.line': 'long',
  'encedo_hem.file.problems.seq': 'long',
  'encedo_hem.file.problems.kind': 'keyword',
  'encedo_hem.file.problems.message': 'keyword',
  ...Object.fromEntries(
    ['malformed', 'no_key', 'signature_invalid', 'mac_mismatch', 'seq_gap', 'seq_disorder', 'seq_repeat'].map((k) => [
      `encedo_hem.file.problem_counts.${k}`,
      'long' as const,
    ]),
  ),
  'encedo_hem.alert.kind': 'keyword',
  'encedo_hem.alert.count': 'long',
  'encedo_hem.alert.previous_sha256': 'keyword',
  'encedo_hem.alert.current_sha256': 'keyword',
  'encedo_hem.alert.previous_key': 'keyword',
  'encedo_hem.alert.current_key': 'keyword',
  // The device status stream (event.action: device-status).
  'encedo_hem.status.state': 'keyword',
  'encedo_hem.status.halted': 'boolean',
  'encedo_hem.status.consecutive_failures': 'long',
  'encedo_hem.status.last_error': 'keyword',
  'encedo_hem.status.last_success': 'date',
  'encedo_hem.status.last_file_ingested': 'keyword',
  'encedo_hem.status.instance': 'keyword',
  'encedo_hem.status.current_file_id': 'keyword',
  'encedo_hem.status.current_file_since': 'date',
  'encedo_hem.status.unreleased_seconds': 'long',
  'encedo_hem.status.logger_key_fingerprint': 'keyword',
  'encedo_hem.status.logger_key_source': 'keyword',
};

export const CUSTODY_ECS_FIELDS = [
  '@timestamp',
  'message',
  'event.kind',
  'event.category',
  'event.type',
  'event.action',
  'event.created',
  'event.ingested',
  'event.hash',
  'event.module',
  'event.dataset',
  ...OBSERVER_AND_STREAM_FIELDS,
] as const;

/**
 * The digest as signed. Only what `audit` sorts and filters on is indexed; the rest (chunk hashes, dead-letter
 * lists) stays in `_source` unindexed (the templates are `dynamic: false`).
 */
export const CUSTODY_VENDOR_FIELDS: Readonly<Record<string, VendorFieldType>> = {
  'encedo_hem.custody.hash': 'keyword',
  'encedo_hem.custody.body.kind': 'keyword',
  'encedo_hem.custody.body.chain.device': 'keyword',
  'encedo_hem.custody.body.chain.output': 'keyword',
  'encedo_hem.custody.body.chain.position': 'long',
  'encedo_hem.custody.body.chain.previous': 'keyword',
  'encedo_hem.custody.body.device.name': 'keyword',
  'encedo_hem.custody.body.collected_at': 'date',
  'encedo_hem.custody.body.file.id': 'keyword',
  'encedo_hem.custody.body.file.sha256': 'keyword',
  'encedo_hem.custody.body.file.records': 'long',
  'encedo_hem.custody.body.file.verified': 'long',
  'encedo_hem.custody.body.file.valid': 'boolean',
  'encedo_hem.custody.body.documents.count': 'long',
  'encedo_hem.custody.body.dead_letters.count': 'long',
  'encedo_hem.custody.body.forwarder.key': 'keyword',
};

/** One data stream family: `logs-encedo_hem.<name>-<namespace>`. */
export interface StreamFields {
  readonly name: string;
  readonly ecs: readonly string[];
  readonly vendor: Readonly<Record<string, VendorFieldType>>;
}

export const STREAMS: readonly StreamFields[] = [
  { name: 'audit', ecs: AUDIT_ECS_FIELDS, vendor: AUDIT_VENDOR_FIELDS },
  { name: 'integrity', ecs: INTEGRITY_ECS_FIELDS, vendor: INTEGRITY_VENDOR_FIELDS },
  { name: 'deadletter', ecs: DEADLETTER_ECS_FIELDS, vendor: DEADLETTER_VENDOR_FIELDS },
  { name: 'custody', ecs: CUSTODY_ECS_FIELDS, vendor: CUSTODY_VENDOR_FIELDS },
];
