import { ECS_VERSION, EVENT_MODULE, type EcsDocument } from './map.js';

export const DEADLETTER_DATASET = 'encedo_hem.deadletter';

/** A document the search engine refused for its content, with the engine's answer. */
export interface RejectedDocument {
  readonly id: string;
  /** The data stream it was meant for, `logs-<dataset>-<namespace>`. */
  readonly index: string;
  /** The serialized document, kept verbatim as `event.original`. */
  readonly source: string;
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

/** What goes to the dead-letter data stream (or, as one JSON line, the local dead-letter file). */
export interface DeadLetterDocument {
  readonly _id: string;
  readonly _index: string;
  readonly _source: EcsDocument;
}

/**
 * The dead-letter document for a refused one: same id, `logs-encedo_hem.deadletter-<namespace>` of the
 * namespace it was meant for, the original as `event.original` and the refusal as `error`.
 */
export function deadLetterDocument(r: RejectedDocument, now: string): DeadLetterDocument {
  const namespace = r.index.slice(r.index.lastIndexOf('-') + 1);
  return {
    _id: r.id,
    _index: `logs-${DEADLETTER_DATASET}-${namespace}`,
    _source: {
      '@timestamp': now,
      message: `${r.index} rejected document ${r.id}: ${r.type}: ${r.reason}`,
      event: {
        kind: 'pipeline_error',
        original: r.source,
        module: EVENT_MODULE,
        dataset: DEADLETTER_DATASET,
        created: now,
      },
      error: { type: r.type, message: r.reason },
      data_stream: { type: 'logs', dataset: DEADLETTER_DATASET, namespace },
      ecs: { version: ECS_VERSION },
      encedo_hem: { deadletter: { index: r.index, id: r.id, status: r.status } },
    },
  };
}
