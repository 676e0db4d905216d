/**
 * The values the Pulumi engine exchanges with a provider beyond JSON, and the detailed diff, with
 * no dependency on gRPC: secrets arrive and leave wrapped (`{[SIG]: SECRET_SIG, value}`), unknowns
 * as a sentinel string (logic.ts `UNKNOWN`).
 */
export const SIG_KEY = '4dabf18193072939515e22adb298388d';
export const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

export type Path = (string | number)[];

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isSecret = (value: unknown): value is { value: unknown } => isRecord(value) && value[SIG_KEY] === SECRET_SIG;

export const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** The plain value, and the paths at which it held secrets (so they can be wrapped again on the way out). */
export function unwrapSecrets(value: unknown, path: Path = [], found: Path[] = []): { value: unknown; secrets: Path[] } {
  const walk = (v: unknown, at: Path): unknown => {
    if (isSecret(v)) {
      found.push(at);
      return walk(v.value, at);
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...at, i]));
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, [...at, k])]));
    return v;
  };
  return { value: walk(value, path), secrets: found };
}

/** Wraps the values at `paths` (those that exist) as secrets; a path inside an already wrapped value is left alone. */
export function wrapSecrets<T>(value: T, paths: readonly Path[]): T {
  let result: unknown = value;
  for (const path of paths) result = wrapAt(result, path);
  return result as T;
}

function wrapAt(value: unknown, path: Path): unknown {
  if (isSecret(value)) return value;
  if (path.length === 0) return value === undefined ? value : secret(value);
  const [head, ...rest] = path;
  if (Array.isArray(value) && typeof head === 'number' && head < value.length) return value.map((v, i) => (i === head ? wrapAt(v, rest) : v));
  if (isRecord(value) && typeof head === 'string' && head in value) return { ...value, [head]: wrapAt(value[head], rest) };
  return value;
}

/** `spec.scopes[0].scope`, the engine's property-path syntax. */
export function formatPropertyPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? (i === 0 ? p : `.${p}`) : `["${p.replace(/["\\]/g, '\\$&')}"]`)).join('');
}

export type ChangeKind = 'add' | 'delete' | 'update';

/**
 * Every leaf (or whole added/removed subtree) that differs between the old state and the new
 * inputs, keyed by property path. Only the input properties are compared: outputs the server
 * computes (issuer, clientId, clientSecret, generation) are not the program's to change.
 */
export function detailedDiff(olds: Record<string, unknown>, news: Record<string, unknown>, keys: readonly string[]): Map<string, ChangeKind> {
  const changes = new Map<string, ChangeKind>();
  const walk = (a: unknown, b: unknown, at: Path) => {
    if (a === undefined && b === undefined) return;
    if (a === undefined) return void changes.set(formatPropertyPath(at), 'add');
    if (b === undefined) return void changes.set(formatPropertyPath(at), 'delete');
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...at, i]);
      return;
    }
    if (isRecord(a) && isRecord(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[key], b[key], [...at, key]);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) changes.set(formatPropertyPath(at), 'update');
  };
  for (const key of keys) walk(emptyAsAbsent(olds[key]), emptyAsAbsent(news[key]), [key]);
  return changes;
}

// Labels and annotations: an empty map and no map are the same declaration.
const emptyAsAbsent = (value: unknown) => (isRecord(value) && Object.keys(value).length === 0 ? undefined : value);

/** Whether `path` (a formatted property path) is `prefix` or lies under it. */
export const pathUnder = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);
