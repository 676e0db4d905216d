import type { Claim, ClaimDefinition } from '../../api/index.ts';
import type { ClaimValue } from './claims.ts';

export type ClaimSchema = Record<string, ClaimDefinition>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A value as its claim's definition types it, or undefined when it does not fit. Strings from
 * declarations and upstream attributes are read as the type says (`"42"` a number, `"true"` a
 * boolean); a date stays an RFC 3339 string; a single string is a list of one.
 */
export function typed(value: ClaimValue, def: ClaimDefinition): ClaimValue | undefined {
  const allowed = (v: string) => !def.values || def.values.includes(v);
  switch (def.type) {
    case 'string':
      return typeof value === 'string' && allowed(value) ? value : undefined;
    case 'enum':
      return typeof value === 'string' && allowed(value) ? value : undefined;
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      return Number.isFinite(n) ? n : undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : value === 'true' ? true : value === 'false' ? false : undefined;
    case 'date':
      return typeof value === 'string' && RFC3339.test(value) && !Number.isNaN(Date.parse(value)) ? value : undefined;
    case 'stringList': {
      const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
      return list?.every(allowed) ? list : undefined;
    }
  }
}

/** The type a claim source always has, when it is known before run time. */
function sourceType(from: string): ClaimDefinition['type'] | 'runtime' {
  const [source, field] = from.split('.', 2);
  if (source !== 'organization' && source !== 'contract') return 'runtime';
  return field === 'parents' ? 'stringList' : field === 'endsAt' ? 'date' : 'string';
}

/**
 * Why a declared claim cannot fit the schema, or undefined: a constant that does not read as
 * its type, or a source whose type is another (a `stringList` from `contract.id`). Values
 * that come from users and upstream IdPs are judged per token instead.
 */
export function declaredClaimProblem(claim: Claim, schema: ClaimSchema | undefined): string | undefined {
  const def = schema?.[claim.name];
  if (!def) return undefined;
  if (claim.value !== undefined) {
    if (typed(claim.value, def) === undefined) return `"${claim.value}" is not a valid ${def.type}${def.values ? ` (one of ${def.values.join(', ')})` : ''}, as the Workspace's claimSchema declares ${claim.name}`;
    return undefined;
  }
  const from = sourceType(claim.from ?? '');
  if (from === 'runtime' || from === def.type) return undefined;
  if (from === 'string' && (def.type === 'enum' || def.type === 'stringList')) return undefined; // judged on its value
  return `${claim.from} is a ${from}, but the Workspace's claimSchema declares ${claim.name} a ${def.type}`;
}

/**
 * The claims a token may carry under the schema: each declared claim typed, one that does not
 * fit left out (`dropped`), and the required ones without a valid value (`missing`).
 */
export function applySchema(claims: Record<string, ClaimValue>, schema: ClaimSchema | undefined): { claims: Record<string, ClaimValue>; dropped: string[]; missing: string[] } {
  if (!schema) return { claims, dropped: [], missing: [] };
  const out: Record<string, ClaimValue> = { ...claims };
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(claims)) {
    const def = schema[name];
    if (!def) continue;
    const fit = typed(value, def);
    if (fit === undefined) {
      delete out[name];
      dropped.push(name);
    } else out[name] = fit;
  }
  const missing = Object.entries(schema)
    .filter(([name, def]) => def.required && out[name] === undefined)
    .map(([name]) => name);
  return { claims: out, dropped, missing };
}
