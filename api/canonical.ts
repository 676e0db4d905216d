import type { AnyObject } from './kinds/index.ts';

/** JSON with object keys sorted at every depth, so equal values always serialise (and hash) equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * What a declaration says, as one comparable string: spec, labels and annotations.
 * Server-written metadata (generation, creationTimestamp) and status are not part of it,
 * so the server's "unchanged" and a reconciler's "in sync" are the same judgement.
 */
export function declarationOf(object: AnyObject): string {
  return canonicalJson({ spec: object.spec, labels: object.metadata.labels ?? {}, annotations: object.metadata.annotations ?? {} });
}
