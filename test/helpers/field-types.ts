import { EcsFlat } from '@elastic/ecs';
import { STREAMS } from '../../src/ecs/fields.js';

/** Mapped type of every field per dataset (`encedo_hem.audit`, …), from the field contract and the ECS catalogue. */
export const FIELD_TYPES: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map(
  STREAMS.map((s) => {
    const types = new Map<string, string>();
    for (const f of s.ecs) types.set(f, (EcsFlat as Record<string, { type: string }>)[f]!.type);
    for (const [f, t] of Object.entries(s.vendor)) types.set(f, t);
    return [`encedo_hem.${s.name}`, types];
  }),
);
