import type { AnyObject } from './kinds/index.ts';

/** JSON with object keys sorted at every depth, so equal values always serialise (and hash) equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  // Loops and one string instead of entries/filter/sort/map/join: the audit chain hashes every record with this.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += `${i === 0 ? '' : ','}${item === undefined ? 'null' : canonicalJson(item)}`;
    }
    return `${out}]`;
  }
  // The default sort compares UTF-16 code units, as `<` does.
  const keys = Object.keys(value).sort();
  let out = '{';
  for (const key of keys) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/**
 * What a declaration says, as one comparable string: spec, labels and annotations.
 * Server-written metadata (generation, creationTimestamp) and status are not part of it,
 * so the server's "unchanged" and a reconciler's "in sync" are the same judgement.
 */
export function declarationOf(object: AnyObject): string {
  return canonicalJson({ spec: object.spec, labels: object.metadata.labels ?? {}, annotations: object.metadata.annotations ?? {} });
}
