import { EcsFlat } from '@elastic/ecs';

type FieldDef = {
  type: string;
  normalize?: string[];
  allowed_values?: { name: string; expected_event_types?: string[] }[];
};
const FLAT = EcsFlat as unknown as Record<string, FieldDef>;

/** Flattens nested objects into dotted keys; arrays and scalars are leaves. */
export function flatten(doc: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = v;
  }
  return out;
}

const STRING_TYPES = new Set(['keyword', 'constant_keyword', 'match_only_text', 'wildcard', 'text']);
const INTEGER_TYPES = new Set(['long', 'integer', 'short', 'byte']);

function valueMatches(type: string, v: unknown): boolean {
  if (STRING_TYPES.has(type)) return typeof v === 'string';
  if (INTEGER_TYPES.has(type)) return Number.isSafeInteger(v);
  if (type === 'float' || type === 'double' || type === 'scaled_float') return typeof v === 'number';
  if (type === 'boolean') return typeof v === 'boolean';
  if (type === 'date') return typeof v === 'string' && !Number.isNaN(Date.parse(v)) && /^\d{4}-\d\d-\d\dT/.test(v);
  if (type === 'ip') return typeof v === 'string';
  return false;
}

/**
 * Every field outside the vendor namespace must exist in ECS (per @elastic/ecs), with a value of the
 * field's type, an array only where ECS allows one, allowed values only, and category/type pairs that
 * ECS expects. Returns the list of violations (empty when the document conforms).
 */
export function ecsViolations(doc: Record<string, unknown>, vendorPrefix = 'encedo_hem.'): string[] {
  const errors: string[] = [];
  const flat = flatten(doc);
  for (const [key, value] of Object.entries(flat)) {
    if (key.startsWith(vendorPrefix)) continue;
    const def = FLAT[key];
    if (!def) {
      errors.push(`${key}: not an ECS field`);
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && !def.normalize?.includes('array'))
      errors.push(`${key}: ECS does not declare it an array`);
    for (const v of values) {
      if (!valueMatches(def.type, v)) errors.push(`${key}: ${JSON.stringify(v)} is not a valid ${def.type}`);
      if (def.allowed_values && !def.allowed_values.some((a) => a.name === v))
        errors.push(`${key}: ${JSON.stringify(v)} is not an allowed value`);
    }
  }
  const categories = (flat['event.category'] as string[] | undefined) ?? [];
  const types = (flat['event.type'] as string[] | undefined) ?? [];
  for (const c of categories) {
    const expected = FLAT['event.category']!.allowed_values!.find((a) => a.name === c)?.expected_event_types ?? [];
    for (const t of types)
      if (!expected.includes(t)) errors.push(`event.type ${t} is not expected with event.category ${c}`);
  }
  return errors;
}
