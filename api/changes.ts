/** One changed leaf of an object, as recorded in the audit log. */
export interface FieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

const SECRET_KEY = /(secret|password|passwd|token|private.?key|credential)/i;
/** Fields of the kinds whose names say "token" but hold lifetimes, token kinds or exchange rules: an auditor must see them change. */
const NOT_SECRET = new Set(['tokens', 'accessToken', 'idToken', 'refreshToken', 'maxAccessToken', 'maxIdToken', 'maxRefreshToken', 'tokenExchange']);
export const REDACTED = '[redacted]';

/**
 * Replaces values under secret-looking keys. Declarations hold references to secrets
 * (`...Ref: {name, key}`), which are kept: they say where, not what.
 */
export function redact(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && !/Ref$/.test(key) && !NOT_SECRET.has(key)) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** The leaves that differ between two JSON values; arrays are compared whole. Secrets are redacted. */
export function diff(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diff(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const leaf = path.split('.').pop() ?? '';
  const change: FieldChange = { path };
  if (before !== undefined) change.before = redact(before, leaf);
  if (after !== undefined) change.after = redact(after, leaf);
  return [change];
}
