import type { z } from 'zod';
import { GROUP_VERSION } from './meta.ts';
import { kindByName, type AnyObject } from './kinds/index.ts';

export interface FieldError {
  /** Dotted path into the object, e.g. `spec.contract.endsAt` or `spec.redirectUris[0]`. */
  path: string;
  message: string;
}

/** A declaration that does not satisfy its kind's schema; the message names the object and every bad field. */
export class ValidationError extends Error {
  readonly object: string;
  readonly errors: FieldError[];
  constructor(object: string, errors: FieldError[]) {
    super(`${object}: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`);
    this.name = 'ValidationError';
    this.object = object;
    this.errors = errors;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): FieldError[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown field' }));
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return [{ path: formatPath(issue.path), message: 'required' }];
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    return [{ path: formatPath(issue.path), message: issue.message }];
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

export function zodErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap(describe);
}

/** `Kind namespace/name` for messages, as far as the input lets us tell. */
export function objectLabel(input: unknown, fallbackNamespace?: string): string {
  const rec = (input ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof rec.kind === 'string' ? rec.kind : 'object';
  const name = typeof rec.metadata?.name === 'string' ? rec.metadata.name : '(unnamed)';
  const ns = typeof rec.metadata?.namespace === 'string' ? rec.metadata.namespace : fallbackNamespace;
  return ns ? `${kind} ${ns}/${name}` : `${kind} ${name}`;
}

/**
 * Checks a declaration of any kind and returns it with defaults applied.
 * Throws ValidationError naming the object and each bad field path.
 */
export function parseObject(input: unknown, options: { defaultNamespace?: string } = {}): AnyObject {
  const label = objectLabel(input, options.defaultNamespace);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(label, [{ path: '', message: 'expected an object with apiVersion, kind, metadata and spec' }]);
  }
  const rec = input as Record<string, unknown>;
  if (rec.apiVersion !== GROUP_VERSION) {
    throw new ValidationError(label, [{ path: 'apiVersion', message: `expected "${GROUP_VERSION}"` }]);
  }
  const def = typeof rec.kind === 'string' ? kindByName(rec.kind) : undefined;
  if (!def) {
    throw new ValidationError(label, [{ path: 'kind', message: `unknown kind ${JSON.stringify(rec.kind)}` }]);
  }
  const result = def.schema.safeParse(input);
  if (!result.success) throw new ValidationError(label, zodErrors(result.error));
  const parsed = result.data as AnyObject;
  if (!parsed.metadata.namespace && options.defaultNamespace) {
    parsed.metadata = { ...parsed.metadata, namespace: options.defaultNamespace };
  }
  return parsed;
}
