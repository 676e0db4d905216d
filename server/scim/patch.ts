import { ScimError } from './errors.ts';
import { matches, parseFilter, type Filter } from './filter.ts';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

type Json = Record<string, unknown>;

interface ParsedPath {
  /** The extension schema the attribute is in, when the path names one. */
  urn: string | undefined;
  attr: string;
  filter: Filter | undefined;
  sub: string | undefined;
}

const PATH = /^([A-Za-z][\w$-]*)(?:\[(.*)\])?(?:\.([A-Za-z][\w$-]*))?$/;
const READ_ONLY = new Set(['id', 'meta', 'schemas', 'groups']);

const invalidPath = (path: string, why: string) => new ScimError(400, 'invalidPath', `path "${path}": ${why}`);

function parsePath(path: string, extensions: readonly string[], core: string): ParsedPath {
  let rest = path;
  let urn: string | undefined;
  const lower = path.toLowerCase();
  if (lower.startsWith(`${core.toLowerCase()}:`)) rest = path.slice(core.length + 1);
  else {
    urn = extensions.find((u) => lower.startsWith(`${u.toLowerCase()}:`));
    if (urn) rest = path.slice(urn.length + 1);
    else if (extensions.some((u) => lower === u.toLowerCase())) return { urn: path, attr: '', filter: undefined, sub: undefined };
    else if (lower.startsWith('urn:')) throw invalidPath(path, 'names a schema this resource does not have');
  }
  const m = PATH.exec(rest);
  if (!m) throw invalidPath(path, 'expected attribute, attribute.subAttribute or attribute[filter].subAttribute');
  return { urn, attr: m[1]!, filter: m[2] !== undefined ? parseFilter(m[2]) : undefined, sub: m[3] };
}

/** The key of `object` that names `attr`, case-insensitively (attribute names are, RFC 7643 §2.1). */
function keyOf(object: Json, attr: string): string {
  return Object.keys(object).find((k) => k.toLowerCase() === attr.toLowerCase()) ?? attr;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Elements of a multi-valued attribute that are the same value (members and emails by `value`). */
function sameValue(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b) && 'value' in a && 'value' in b) return String(a.value).toLowerCase() === String(b.value).toLowerCase();
  return JSON.stringify(a) === JSON.stringify(b);
}

function addValue(container: Json, key: string, value: unknown, replace: boolean): void {
  const existing = container[key];
  if (Array.isArray(existing) || Array.isArray(value)) {
    const incoming = Array.isArray(value) ? value : [value];
    if (replace || !Array.isArray(existing)) {
      container[key] = incoming;
      return;
    }
    const merged = [...existing];
    for (const item of incoming) if (!merged.some((e) => sameValue(e, item))) merged.push(item);
    container[key] = merged;
    return;
  }
  if (isObject(existing) && isObject(value)) {
    container[key] = { ...existing, ...value };
    return;
  }
  container[key] = value;
}

function applyOne(resource: Json, op: 'add' | 'replace' | 'remove', path: string, value: unknown, extensions: readonly string[], core: string): void {
  const p = parsePath(path, extensions, core);
  if (!p.urn && READ_ONLY.has(p.attr.toLowerCase())) throw new ScimError(400, 'mutability', `${p.attr} cannot be changed`);
  let container: Json = resource;
  if (p.urn) {
    const urnKey = keyOf(resource, p.urn);
    if (p.attr === '') {
      if (op === 'remove') delete resource[urnKey];
      else if (isObject(value)) resource[urnKey] = op === 'add' && isObject(resource[urnKey]) ? { ...(resource[urnKey] as Json), ...value } : value;
      else throw new ScimError(400, 'invalidValue', `${p.urn} must be set to an object`);
      return;
    }
    if (!isObject(resource[urnKey])) resource[urnKey] = {};
    container = resource[urnKey] as Json;
  }
  const key = keyOf(container, p.attr);
  if (!p.filter) {
    if (!p.sub) {
      if (op === 'remove') {
        // Entra removes members by listing them as the value of a path-less-filter remove.
        if (value !== undefined && Array.isArray(container[key])) {
          const gone = Array.isArray(value) ? value : [value];
          container[key] = (container[key] as unknown[]).filter((e) => !gone.some((g) => sameValue(e, g)));
        } else delete container[key];
      } else addValue(container, key, value, op === 'replace');
      return;
    }
    const target = container[key];
    const objects = Array.isArray(target) ? target.filter(isObject) : isObject(target) ? [target] : [];
    if (objects.length === 0) {
      if (op === 'remove') return;
      container[key] = { [p.sub]: value };
      return;
    }
    for (const o of objects) {
      const subKey = keyOf(o, p.sub);
      if (op === 'remove') delete o[subKey];
      else o[subKey] = value;
    }
    return;
  }
  const list = Array.isArray(container[key]) ? (container[key] as unknown[]) : [];
  const selected = list.filter((e) => isObject(e) && matches(e, p.filter!));
  if (op === 'remove') {
    if (!p.sub) container[key] = list.filter((e) => !selected.includes(e));
    else for (const e of selected) delete (e as Json)[keyOf(e as Json, p.sub)];
    return;
  }
  if (selected.length === 0) {
    // `emails[type eq "work"].value` with no work email yet: the element the filter describes is made.
    const f = p.filter;
    if (f.op !== 'eq' || typeof f.value !== 'string' || f.path.includes('.')) throw new ScimError(400, 'noTarget', `path "${path}" matches no value`);
    const made: Json = { [f.path]: f.value };
    if (p.sub) made[p.sub] = value;
    else if (isObject(value)) Object.assign(made, value);
    container[key] = [...list, made];
    return;
  }
  for (const e of selected as Json[]) {
    if (p.sub) e[keyOf(e, p.sub)] = value;
    else if (isObject(value)) Object.assign(e, value);
    else throw new ScimError(400, 'invalidValue', `path "${path}" selects complex values: the value must be an object`);
  }
}

/**
 * Applies a PatchOp request (RFC 7644 §3.5.2) to a resource as it is rendered, in place. Also
 * reads what the big IdPs actually send: op names in any case (Entra's "Replace"), path-less
 * add/replace whose value keys are themselves paths (`"name.givenName"`, extension URNs), and
 * member removal by value without a filter.
 */
export function applyPatch(resource: Json, body: unknown, extensions: readonly string[], core: string): Json {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'the body must be a PatchOp object');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA)) throw new ScimError(400, 'invalidSyntax', `schemas must contain ${PATCH_SCHEMA}`);
  const ops = body.Operations ?? body.operations;
  if (!Array.isArray(ops) || ops.length === 0) throw new ScimError(400, 'invalidSyntax', 'Operations must be a non-empty array');
  if (ops.length > 1000) throw new ScimError(413, undefined, 'at most 1000 operations per request');
  ops.forEach((raw, i) => {
    if (!isObject(raw)) throw new ScimError(400, 'invalidSyntax', `Operations[${i}] must be an object`);
    const op = typeof raw.op === 'string' ? raw.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new ScimError(400, 'invalidSyntax', `Operations[${i}].op must be add, replace or remove`);
    const path = typeof raw.path === 'string' && raw.path !== '' ? raw.path : undefined;
    if (path) {
      if (op !== 'remove' && !('value' in raw)) throw new ScimError(400, 'invalidValue', `Operations[${i}] (${op}) needs a value`);
      applyOne(resource, op, path, raw.value, extensions, core);
      return;
    }
    if (op === 'remove') throw new ScimError(400, 'noTarget', `Operations[${i}]: remove needs a path`);
    if (!isObject(raw.value)) throw new ScimError(400, 'invalidValue', `Operations[${i}]: without a path the value must be an object of attributes`);
    for (const [k, v] of Object.entries(raw.value)) {
      // Okta repeats the resource's id (and clients echo schemas/meta) beside what changes.
      if (READ_ONLY.has(k.toLowerCase())) continue;
      applyOne(resource, op, k, v, extensions, core);
    }
  });
  return resource;
}
