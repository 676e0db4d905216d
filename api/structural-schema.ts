import { z } from 'zod';

/**
 * zod schemas → structural OpenAPI v3 schemas (the CRDs' openAPIV3Schema, api/crd.ts; the
 * Pulumi schema's types, provider/schema.ts).
 *
 * zod writes JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema
 * (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
 * every node typed, no `$ref`, no `additionalProperties: false` (unknown fields are pruned instead),
 * never `properties` and `additionalProperties` together, logical junctors that only restrict values,
 * and patterns Go's RE2 engine compiles. `toStructuralSchema` does that conversion and throws,
 * naming the field, where a schema cannot be expressed rather than emitting a CRD the API server
 * would refuse or one that silently validates less.
 */

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that the generator writes. */
export interface JSONSchemaProps {
  description?: string;
  title?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: unknown[];
  default?: unknown;
  example?: unknown;
  nullable?: boolean;
  minimum?: number;
  exclusiveMinimum?: boolean;
  maximum?: number;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  items?: JSONSchemaProps;
  minProperties?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  oneOf?: JSONSchemaProps[];
  allOf?: JSONSchemaProps[];
  not?: JSONSchemaProps;
  'x-kubernetes-validations'?: ValidationRule[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

export interface ValidationRule {
  rule: string;
  message: string;
}

/** zod schema → JSON Schema (the input side: defaulted fields are optional) → structural schema. */
export function zodToStructural(schema: z.ZodType, path = ''): JSONSchemaProps {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any', reused: 'inline', cycles: 'ref' });
  return toStructuralSchema(json, path);
}

type Json = Record<string, unknown>;

/** A JSON Schema → a structural OpenAPI v3 schema. `path` prefixes the field names in errors. */
export function toStructuralSchema(jsonSchema: unknown, path = ''): JSONSchemaProps {
  const root = asRecord(jsonSchema, path);
  const defs: Json = { ...asOptionalRecord(root['definitions']), ...asOptionalRecord(root['$defs']) };
  return convert(root, { defs, resolving: [] }, path);
}

interface Context {
  defs: Json;
  /** `$ref`s being inlined above this node: a repeat is a recursive schema, which Kubernetes cannot express. */
  resolving: string[];
}

/** Keywords copied as they are (after the node-level rewrites below). */
const VALUE_KEYWORDS = new Set(['description', 'title', 'format', 'enum', 'default', 'example', 'nullable', 'minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'required']);

/** Keywords Kubernetes has no use for, or that the conversion below has already accounted for. */
const DROPPED_KEYWORDS = new Set([
  '$schema',
  '$id',
  'id',
  '$defs',
  'definitions',
  '$comment',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
  'contentEncoding',
  'contentMediaType',
  // Key constraints of records: Kubernetes has no equivalent (a CEL rule on the map would be one).
  'propertyNames',
]);

/** Formats whose zod-generated `pattern` only repeats what the Kubernetes format check already enforces. */
const SELF_VALIDATING_FORMATS = new Set(['date-time', 'date']);

/** zod's bounds for `z.int()`: ±(2^53 − 1), the safe-integer range; meaningless as a CRD limit. */
const SAFE_INTEGER_LIMIT = Number.MAX_SAFE_INTEGER;

function convert(input: unknown, ctx: Context, path: string): JSONSchemaProps {
  if (input === true) return { 'x-kubernetes-preserve-unknown-fields': true };
  let node = asRecord(input, path);

  if (typeof node['$ref'] === 'string') {
    const ref = node['$ref'];
    if (ctx.resolving.includes(ref)) {
      throw new Error(`${label(path)}: recursive schema (${ref}) cannot be written as a structural schema`);
    }
    const { $ref: _ref, ...siblings } = node;
    node = { ...resolveRef(ref, ctx, path), ...siblings };
    ctx = { ...ctx, resolving: [...ctx.resolving, ref] };
    return convert(node, ctx, path);
  }

  if (node['anyOf'] !== undefined || node['oneOf'] !== undefined) return convertUnion(node, ctx, path);
  if (node['allOf'] !== undefined) throw new Error(`${label(path)}: an intersection (allOf) cannot be written as a structural schema`);
  if (node['not'] !== undefined) throw new Error(`${label(path)}: "not" (e.g. z.never()) cannot be written as a structural schema`);

  const out: Json = {};
  let type = node['type'];
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    if (nonNull.length !== 1) throw new Error(`${label(path)}: a node of several types (${type.join(', ')}) is not structural`);
    if (nonNull.length < type.length) out['nullable'] = true;
    type = nonNull[0];
  }
  if (type === 'null') throw new Error(`${label(path)}: a null-only node is not structural`);

  for (const [key, value] of Object.entries(node)) {
    if (key === 'type' || key === 'properties' || key === 'additionalProperties' || key === 'items') continue;
    if (key === 'const') continue; // → enum, below
    if (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') continue; // → below
    if (key === 'uniqueItems') continue; // → x-kubernetes-list-type, below
    if (key.startsWith('x-kubernetes-')) {
      out[key] = value;
      continue;
    }
    if (VALUE_KEYWORDS.has(key)) {
      out[key] = value;
      continue;
    }
    if (DROPPED_KEYWORDS.has(key)) continue;
    throw new Error(`${label(path)}: JSON Schema keyword "${key}" has no structural OpenAPI v3 equivalent`);
  }

  if ('const' in node && out['enum'] === undefined) out['enum'] = [node['const']];
  exclusiveBound(node, out, 'min');
  exclusiveBound(node, out, 'max');
  if (type === 'integer' || type === 'number') {
    if (typeof out['minimum'] === 'number' && Math.abs(out['minimum']) >= SAFE_INTEGER_LIMIT) delete out['minimum'];
    if (typeof out['maximum'] === 'number' && Math.abs(out['maximum']) >= SAFE_INTEGER_LIMIT) delete out['maximum'];
    if (out['minimum'] === undefined) delete out['exclusiveMinimum'];
    if (out['maximum'] === undefined) delete out['exclusiveMaximum'];
  }
  if (typeof out['pattern'] === 'string') {
    if (typeof out['format'] === 'string' && SELF_VALIDATING_FORMATS.has(out['format'])) delete out['pattern'];
    else rewritePattern(out, path);
  }

  switch (type) {
    case 'object':
      out['type'] = 'object';
      convertObject(node, out, ctx, path);
      break;
    case 'array': {
      out['type'] = 'array';
      const items = node['items'];
      if (Array.isArray(items) || node['prefixItems'] !== undefined) {
        throw new Error(`${label(path)}: a tuple cannot be written as a structural schema`);
      }
      const converted = items === undefined ? { 'x-kubernetes-preserve-unknown-fields': true } : convert(items, ctx, `${path}[]`);
      out['items'] = converted;
      // Kubernetes forbids uniqueItems (quadratic); a list of scalars declared a set is checked for duplicates instead.
      if (node['uniqueItems'] === true && out['x-kubernetes-list-type'] === undefined && isScalar(converted)) {
        out['x-kubernetes-list-type'] = 'set';
      }
      break;
    }
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      out['type'] = type;
      break;
    case undefined:
      // z.unknown(), z.any() and whatever zod could not represent: keep the value as written.
      if (Object.keys(out).some((k) => !['description', 'title', 'default', 'example', 'nullable'].includes(k) && !k.startsWith('x-kubernetes-'))) {
        throw new Error(`${label(path)}: an untyped node with value constraints is not structural`);
      }
      if (out['x-kubernetes-int-or-string'] !== true) out['x-kubernetes-preserve-unknown-fields'] = true;
      break;
    default:
      throw new Error(`${label(path)}: unknown type ${JSON.stringify(type)}`);
  }
  return ordered(out);
}

function convertObject(node: Json, out: Json, ctx: Context, path: string): void {
  const properties = asOptionalRecord(node['properties']);
  const hasProperties = properties !== undefined && Object.keys(properties).length > 0;
  if (properties) {
    const converted: Record<string, JSONSchemaProps> = {};
    for (const [name, schema] of Object.entries(properties)) converted[name] = convert(schema, ctx, path ? `${path}.${name}` : name);
    out['properties'] = converted;
  }
  const extra = node['additionalProperties'];
  if (extra === undefined || extra === false) return; // false: Kubernetes prunes unknown fields
  if (extra === true || isEmptySchema(extra)) {
    // A loose object or a record of anything: keep unknown fields.
    out['x-kubernetes-preserve-unknown-fields'] = true;
    return;
  }
  if (hasProperties) {
    throw new Error(`${label(path)}: an object with both known fields and a typed catch-all (additionalProperties) is not structural`);
  }
  out['additionalProperties'] = convert(extra, ctx, `${path}[*]`);
}

/**
 * Unions: the type moves to the parent and the branches keep only value validations. Two shapes
 * qualify: branches of one scalar type (e.g. a string matching one of several patterns), and
 * integer-or-string. Unions of objects or of mixed types have no structural form: a discriminated
 * object with optional fields and a CEL rule says the same thing.
 */
function convertUnion(node: Json, ctx: Context, path: string): JSONSchemaProps {
  const junctor = node['anyOf'] !== undefined ? 'anyOf' : 'oneOf';
  if (node['anyOf'] !== undefined && node['oneOf'] !== undefined) {
    throw new Error(`${label(path)}: anyOf and oneOf together are not supported`);
  }
  const raw = node[junctor];
  if (!Array.isArray(raw) || raw.length === 0) throw new Error(`${label(path)}: ${junctor} must be a non-empty list`);
  const { [junctor]: _branches, ...rest } = node;

  let nullable = rest['nullable'] === true;
  const branches: JSONSchemaProps[] = [];
  for (const [i, branch] of raw.entries()) {
    const b = asRecord(branch, `${path}(${junctor}[${i}])`);
    if (b['type'] === 'null' || (b['nullable'] === true && Array.isArray(b['enum']) && b['enum'].length === 1 && b['enum'][0] === null)) {
      nullable = true; // zod's openapi-3.0 form of z.null()
      continue;
    }
    branches.push(convert(b, ctx, path));
  }
  const parent = convert(rest, ctx, path);
  delete parent['x-kubernetes-preserve-unknown-fields'];
  if (nullable) parent.nullable = true;

  if (branches.length === 1) {
    return ordered({ ...branches[0], ...stripUndefined(parent) } as Json);
  }
  const types = new Set(branches.map((b) => b.type));
  const scalarTypes = [...types].every((t) => t === 'string' || t === 'integer' || t === 'number' || t === 'boolean');
  if (types.size === 1 && scalarTypes && !types.has(undefined)) {
    const [type] = types;
    const restricted = branches.map((b) => branchValidations(b, path));
    const out: Json = { ...stripUndefined(parent), type };
    // A branch with no restriction of its own accepts every value of the type.
    if (restricted.every((b) => Object.keys(b).length > 0)) out[junctor] = restricted;
    return ordered(out);
  }
  const numberish = (t: string | undefined) => t === 'integer' || t === 'number';
  if (types.size === 2 && types.has('string') && [...types].some(numberish) && branches.every((b) => Object.keys(branchValidations(b, path)).length === 0)) {
    const { type: _t, ...parentRest } = parent;
    return ordered({ ...stripUndefined(parentRest), 'x-kubernetes-int-or-string': true });
  }
  throw new Error(`${label(path)}: a union of ${[...types].map((t) => t ?? 'untyped').join(' | ')} cannot be written as a structural schema; ` + 'use one object with optional fields and a CEL rule instead');
}

/** What a union branch may carry in a structural schema: value validations only. */
function branchValidations(branch: JSONSchemaProps, path: string): JSONSchemaProps {
  const { type: _type, description: _d, title: _t, default: _def, nullable: _n, example: _e, ...validations } = branch;
  if (validations.properties !== undefined || validations.items !== undefined || validations.additionalProperties !== undefined) {
    throw new Error(`${label(path)}: a union branch may not declare fields`);
  }
  return validations;
}

function exclusiveBound(node: Json, out: Json, side: 'min' | 'max'): void {
  const key = side === 'min' ? 'exclusiveMinimum' : 'exclusiveMaximum';
  const inclusive = side === 'min' ? 'minimum' : 'maximum';
  const value = node[key];
  if (typeof value === 'boolean') {
    if (value) out[key] = true; // already the OpenAPI 3.0 form
    return;
  }
  if (typeof value !== 'number') return;
  // Draft 2020-12 form (a number) → OpenAPI 3.0 form (minimum/maximum + boolean), keeping the stricter bound.
  const current = out[inclusive];
  const stricter = typeof current !== 'number' || (side === 'min' ? value >= current : value <= current);
  if (stricter) {
    out[inclusive] = value;
    out[key] = true;
  }
}

/** Go's regexp (RE2) compiles CRD patterns; JavaScript-only syntax would make the API server refuse the CRD. */
const LENGTH_LOOKAHEAD = /^\^\(\?=\.\{(\d+)(?:(,)(\d*))?\}\$\)/;
const NOT_RE2 = [
  { re: /\(\?<?[=!]/, what: 'lookaround' },
  { re: /\\[1-9]|\\k</, what: 'a backreference' },
  { re: /\(\?<[A-Za-z]/, what: 'a named group' },
  { re: /\\u[0-9A-Fa-f{]|\\c[A-Za-z]/, what: 'a JavaScript-only escape' },
];

function rewritePattern(out: Json, path: string): void {
  let pattern = out['pattern'] as string;
  // `^(?=.{1,253}$)rest`, a length limit written as a lookahead, is minLength/maxLength.
  const lookahead = LENGTH_LOOKAHEAD.exec(pattern);
  if (lookahead) {
    const min = Number(lookahead[1]);
    const max = lookahead[2] === undefined ? min : lookahead[3] ? Number(lookahead[3]) : undefined;
    pattern = `^${pattern.slice(lookahead[0].length)}`;
    if (typeof out['minLength'] !== 'number' || out['minLength'] < min) out['minLength'] = min;
    if (max !== undefined && (typeof out['maxLength'] !== 'number' || out['maxLength'] > max)) out['maxLength'] = max;
    out['pattern'] = pattern;
  }
  for (const { re, what } of NOT_RE2) {
    if (re.test(pattern)) {
      throw new Error(`${label(path)}: pattern ${JSON.stringify(pattern)} uses ${what}, which Kubernetes (Go RE2) cannot compile`);
    }
  }
}

function resolveRef(ref: string, ctx: Context, path: string): Json {
  const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref);
  const target = match ? ctx.defs[decodeURIComponent(match[1]!).replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  if (target === undefined) throw new Error(`${label(path)}: cannot resolve ${ref}`);
  return asRecord(target, path);
}

/** Keyword order in the generated YAML: what a reader looks for first. */
const KEY_ORDER = [
  'description',
  'title',
  'type',
  'format',
  'enum',
  'default',
  'example',
  'nullable',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'items',
  'minProperties',
  'maxProperties',
  'properties',
  'required',
  'additionalProperties',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
];

function ordered(node: Json): JSONSchemaProps {
  const out: Json = {};
  for (const key of KEY_ORDER) if (node[key] !== undefined) out[key] = node[key];
  for (const key of Object.keys(node).sort()) if (!(key in out) && node[key] !== undefined) out[key] = node[key];
  return out as JSONSchemaProps;
}

function stripUndefined(node: object): Json {
  return Object.fromEntries(Object.entries(node).filter(([, v]) => v !== undefined));
}

function isScalar(schema: JSONSchemaProps): boolean {
  return schema.type === 'string' || schema.type === 'integer' || schema.type === 'number' || schema.type === 'boolean';
}

function isEmptySchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

function asRecord(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${label(path)}: expected a schema object, got ${JSON.stringify(value)}`);
  }
  return value as Json;
}

function asOptionalRecord(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function label(path: string): string {
  return path || '(root)';
}
