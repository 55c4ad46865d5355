import type { SignedDigest } from '../custody/digest.js';
import { type DeviceContext, ECS_VERSION, EVENT_MODULE, type IndexDocument, observerOf } from './map.js';

export const CUSTODY_DATASET = 'encedo_hem.custody';

export function custodyDataStream(namespace: string): string {
  return `logs-${CUSTODY_DATASET}-${namespace}`;
}

/**
 * A signed digest as a document of the custody stream. `encedo_hem.custody` holds the digest exactly as
 * signed (body, hash, signature); the rest is ECS so that Kibana can list and count digests. The id is the
 * digest's hash: a retried collection's identical digest is a duplicate, never a second copy.
 */
export function custodyDocument(
  digest: SignedDigest,
  ctx: { device: DeviceContext; namespace: string },
): IndexDocument {
  const { body } = digest;
  const at = body.kind === 'file' ? body.collected_at : body.rotated_at;
  const where = `${body.device.name} chain position ${body.chain.position}`;
  const message =
    body.kind === 'file'
      ? `Custody digest (${where}): file ${body.file.id}, ${body.file.records} records, ` +
        `${body.documents.count} documents, ${body.dead_letters.count} dead letters`
      : `Custody key rotation (${where}): next key ${body.next_key.fingerprint.slice(0, 16)}…`;
  return {
    _id: digest.hash,
    _index: custodyDataStream(ctx.namespace),
    _source: {
      '@timestamp': at,
      data_stream: { dataset: CUSTODY_DATASET, namespace: ctx.namespace, type: 'logs' },
      ecs: { version: ECS_VERSION },
      encedo_hem: { custody: digest },
      event: {
        action: body.kind === 'file' ? 'custody-digest' : 'custody-key-rotation',
        category: ['file'],
        created: at,
        dataset: CUSTODY_DATASET,
        kind: 'event',
        module: EVENT_MODULE,
        type: ['info'],
        ...(body.kind === 'file' ? { hash: body.file.sha256 } : {}),
      },
      message,
      observer: observerOf({ device: ctx.device, header: null }),
    },
  };
}
