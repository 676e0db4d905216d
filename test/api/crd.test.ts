import { describe, it, expect } from '@jest/globals';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseCel } from '@marcbachmann/cel-js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { allCrds, crdFor, type CustomResourceDefinition } from '../../api/crd.ts';
import { zodToStructural, type JSONSchemaProps } from '../../api/structural-schema.ts';
import { KINDS, Client, IdPConnection, Organization, ClaimMapping } from '../../api/kinds/index.ts';
import type { KindDefinition } from '../../api/kind.ts';
import { checkCrds, renderCrds } from '../../controller/crds/generate.ts';

const crds = allCrds();
const byKind = new Map(crds.map((crd) => [crd.spec.names.kind, crd]));
const kindNames = KINDS.map((k) => k.kind);

function crdOf(kind: string): CustomResourceDefinition {
  const crd = byKind.get(kind);
  if (!crd) throw new Error(`no CRD for ${kind}`);
  return crd;
}

function version(crd: CustomResourceDefinition) {
  const v = crd.spec.versions[0];
  if (!v) throw new Error(`${crd.metadata.name} has no version`);
  return v;
}

function schemaOf(kind: string): JSONSchemaProps {
  return version(crdOf(kind)).schema.openAPIV3Schema;
}

// ---------------------------------------------------------------------------------------------
// A structural-schema checker, after
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
// ---------------------------------------------------------------------------------------------

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const FORBIDDEN = ['$ref', '$schema', '$defs', 'definitions', 'const', 'propertyNames', 'patternProperties', 'additionalItems', 'dependencies', 'prefixItems'];
const JUNCTORS = ['anyOf', 'oneOf', 'allOf'] as const;
/** Formats the API server validates (JSONSchemaProps.format); others are ignored with a warning. */
const KUBERNETES_FORMATS = new Set(['bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5', 'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'duration', 'datetime', 'date-time']);
/** Pattern syntax JavaScript accepts and Go's RE2 (which compiles CRD patterns) does not. */
const NOT_RE2 = /\(\?<?[=!]|\\[1-9]|\\k<|\(\?<[A-Za-z]|\\u[0-9A-Fa-f{]/;

type Node = Record<string, unknown>;

function structuralViolations(schema: unknown, path = '', inJunctor = false): string[] {
  const problems: string[] = [];
  const at = path || '(root)';
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [`${at}: not a schema object`];
  const node = schema as Node;
  for (const key of FORBIDDEN) if (key in node) problems.push(`${at}: has ${key}`);
  if (node['uniqueItems'] === true) problems.push(`${at}: uniqueItems is forbidden`);
  if (node['additionalProperties'] === false) problems.push(`${at}: additionalProperties: false (Kubernetes prunes instead)`);
  if (node['properties'] !== undefined && node['additionalProperties'] !== undefined) problems.push(`${at}: both properties and additionalProperties`);
  for (const key of ['exclusiveMinimum', 'exclusiveMaximum']) {
    if (key in node && typeof node[key] !== 'boolean') problems.push(`${at}: ${key} must be the OpenAPI v3.0 boolean form`);
  }
  if (typeof node['format'] === 'string' && !KUBERNETES_FORMATS.has(node['format'])) problems.push(`${at}: format ${node['format']} is unknown to Kubernetes`);
  if (typeof node['pattern'] === 'string' && NOT_RE2.test(node['pattern'])) problems.push(`${at}: pattern is not RE2 syntax: ${node['pattern']}`);

  const exempt = node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
  if (inJunctor) {
    for (const key of ['type', 'description', 'default', 'nullable', 'additionalProperties', 'x-kubernetes-preserve-unknown-fields']) {
      if (key in node) problems.push(`${at}: a logical-junctor branch carries ${key}`);
    }
  } else if (node['type'] === undefined) {
    if (!exempt) problems.push(`${at}: no type`);
  } else if (!TYPES.has(node['type'] as string)) {
    problems.push(`${at}: type ${JSON.stringify(node['type'])}`);
  }
  if (!inJunctor && node['type'] === 'array' && node['items'] === undefined) problems.push(`${at}: an array without items`);
  if (Array.isArray(node['items'])) problems.push(`${at}: tuple items`);

  if (typeof node['properties'] === 'object' && node['properties'] !== null) {
    for (const [name, child] of Object.entries(node['properties'] as Node)) problems.push(...structuralViolations(child, `${path}.${name}`, inJunctor));
  }
  if (typeof node['items'] === 'object' && node['items'] !== null && !Array.isArray(node['items'])) problems.push(...structuralViolations(node['items'], `${path}[]`, inJunctor));
  if (typeof node['additionalProperties'] === 'object' && node['additionalProperties'] !== null) {
    problems.push(...structuralViolations(node['additionalProperties'], `${path}[*]`, inJunctor));
  }
  for (const junctor of JUNCTORS) {
    const branches = node[junctor];
    if (branches === undefined) continue;
    if (!Array.isArray(branches)) problems.push(`${at}: ${junctor} is not a list`);
    else branches.forEach((b, i) => problems.push(...structuralViolations(b, `${path}(${junctor}[${i}])`, true)));
  }
  if (node['not'] !== undefined) problems.push(...structuralViolations(node['not'], `${path}(not)`, true));
  return problems;
}

/** Every node of a schema that declares a default, with its path. */
function defaults(schema: JSONSchemaProps, path = ''): { path: string; schema: JSONSchemaProps }[] {
  const found = schema.default !== undefined ? [{ path, schema }] : [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) found.push(...defaults(child, `${path}.${name}`));
  if (schema.items) found.push(...defaults(schema.items, `${path}[]`));
  if (schema.additionalProperties) found.push(...defaults(schema.additionalProperties, `${path}[*]`));
  return found;
}

// ---------------------------------------------------------------------------------------------
// Offline validation: openAPIV3Schema → JSON Schema for ajv, with Kubernetes' strict field validation
// (`kubectl apply` rejects unknown fields; without it they are pruned).
// ---------------------------------------------------------------------------------------------

function toJsonSchema(schema: JSONSchemaProps): Node {
  const out: Node = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'example') continue;
    if (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, JSONSchemaProps>).map(([k, v]) => [k, toJsonSchema(v)]));
    } else if (key === 'items' || key === 'additionalProperties' || key === 'not') {
      out[key] = toJsonSchema(value as JSONSchemaProps);
    } else if (key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
      out[key] = (value as JSONSchemaProps[]).map(toJsonSchema);
    } else {
      out[key] = value;
    }
  }
  // OpenAPI v3.0 `exclusiveMinimum: true` beside `minimum` → draft-07's numeric `exclusiveMinimum`.
  if (schema.exclusiveMinimum) {
    out['exclusiveMinimum'] = schema.minimum;
    delete out['minimum'];
  }
  if (schema.exclusiveMaximum) {
    out['exclusiveMaximum'] = schema.maximum;
    delete out['maximum'];
  }
  if (schema['x-kubernetes-int-or-string']) out['type'] = ['integer', 'string'];
  if (schema.type === 'object' && schema.properties && !schema['x-kubernetes-preserve-unknown-fields']) out['additionalProperties'] = false;
  return out;
}

const addFormats = addFormatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: true });
addFormats(ajv);

function validatorFor(kind: string) {
  return ajv.compile(toJsonSchema(schemaOf(kind)));
}

function fieldErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath.slice(1).split('/').join('.');
    const field = e.keyword === 'additionalProperties' ? `${path ? `${path}.` : ''}${String(e.params['additionalProperty'])}` : path;
    return `${field}: ${e.message ?? e.keyword}`;
  });
}

const organization = {
  apiVersion: 'gatehouse.dev/v1alpha1',
  kind: 'Organization',
  metadata: { name: 'cascade-consulting', namespace: 'blixit-partners' },
  spec: {
    displayName: 'Cascade Consulting',
    emailDomains: ['cascade-consulting.example'],
    contract: {
      id: 'BLX-2026-014',
      partnerType: 'consultant',
      owner: 'dana.okafor@blixit.example',
      startsAt: '2026-01-01T00:00:00Z',
      endsAt: '2027-06-30T23:59:59+02:00',
    },
    tokens: { accessToken: '15m', refreshToken: '30d' },
    network: { allowedCidrs: ['203.0.113.0/24'] },
    limits: { requestsPerMinute: 600 },
    suspended: false,
  },
  status: {
    observedGeneration: 3,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'issuer is serving', lastTransitionTime: '2026-02-01T10:00:00Z' }],
    issuer: 'https://id.blixit.example/blixit-partners/cascade-consulting',
  },
};

function withSpec(patch: Record<string, unknown>) {
  return { ...organization, spec: { ...organization.spec, ...patch } };
}

// ---------------------------------------------------------------------------------------------
// CEL (x-kubernetes-validations), evaluated with @marcbachmann/cel-js the way the API server does: `self` is the spec.
// ---------------------------------------------------------------------------------------------

function failedRules(def: { celRules: { rule: string; message: string }[] }, spec: unknown): string[] {
  return def.celRules.filter(({ rule }) => parseCel(rule)({ self: spec }) !== true).map((r) => r.message);
}

// =============================================================================================

describe('the CRDs in controller/crds', () => {
  it('are exactly what api/ generates (run `npm run gen:crds` after changing api/)', () => {
    const { stale, orphaned } = checkCrds();
    const problems = [...stale.map((f) => `controller/crds/${f} is stale or missing — run \`npm run gen:crds\` and commit it`), ...orphaned.map((f) => `controller/crds/${f} belongs to no kind — run \`npm run gen:crds\` to remove it`)];
    expect(problems).toEqual([]);
  });

  it('are one file per kind, named gatehouse.dev_<plural>.yaml, each marked as generated', () => {
    const rendered = renderCrds();
    expect([...rendered.keys()].sort()).toEqual(KINDS.map((k) => `gatehouse.dev_${k.plural}.yaml`).sort());
    for (const text of rendered.values()) {
      expect(text.startsWith('# Generated from api/ by controller/crds/generate.ts — do not edit.\n')).toBe(true);
    }
  });

  it('parse back to the objects crdFor() builds', () => {
    const rendered = renderCrds();
    for (const def of KINDS) {
      expect(parseYaml(rendered.get(`gatehouse.dev_${def.plural}.yaml`)!)).toEqual(crdFor(def as unknown as KindDefinition));
    }
  });
});

describe.each(kindNames)('the %s CRD', (kind) => {
  const def = KINDS.find((k) => k.kind === kind)!;
  const crd = crdOf(kind);
  const v = version(crd);

  it('is named <plural>.gatehouse.dev, namespaced, and listed by `kubectl get gatehouse`', () => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${def.plural}.gatehouse.dev`);
    expect(crd.spec.group).toBe('gatehouse.dev');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toEqual({
      kind,
      listKind: `${kind}List`,
      plural: def.plural,
      singular: kind.toLowerCase(),
      ...(def.shortNames.length ? { shortNames: def.shortNames } : {}),
      categories: ['gatehouse'],
    });
  });

  it('serves and stores v1alpha1 only, with a status subresource', () => {
    expect(crd.spec.versions).toHaveLength(1);
    expect(v.name).toBe('v1alpha1');
    expect(v.served).toBe(true);
    expect(v.storage).toBe(true);
    expect(v.subresources).toEqual({ status: {} });
  });

  it('shows Ready first and Age last in `kubectl get`', () => {
    const columns = v.additionalPrinterColumns;
    expect(columns[0]).toEqual({ name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' });
    expect(columns.at(-1)).toEqual({ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' });
    expect(columns.map((c) => c.name)).toEqual(def.printerColumns.map((c) => c.name));
  });

  it('has a structural schema that Kubernetes accepts', () => {
    expect(structuralViolations(v.schema.openAPIV3Schema)).toEqual([]);
  });

  it('describes the kind, requires spec, and leaves metadata to Kubernetes', () => {
    const schema = v.schema.openAPIV3Schema;
    expect(schema.description).toBe(def.description);
    expect(schema.required).toEqual(['spec']);
    expect(Object.keys(schema.properties ?? {})).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
    expect(schema.properties?.['metadata']).toEqual({ type: 'object' });
  });

  it("carries the kind's CEL rules on spec", () => {
    expect(v.schema.openAPIV3Schema.properties?.['spec']?.['x-kubernetes-validations'] ?? []).toEqual(def.celRules);
  });

  it('has defaults that satisfy their own schema (the API server refuses a CRD otherwise)', () => {
    for (const { path, schema } of defaults(v.schema.openAPIV3Schema)) {
      const { default: value, ...rest } = toJsonSchema(schema);
      expect({ path, valid: ajv.validate(rest, value) }).toEqual({ path, valid: true });
    }
  });
});

describe('the Organization CRD', () => {
  it('shows the contract end date as a column', () => {
    expect(version(crdOf('Organization')).additionalPrinterColumns).toContainEqual({ name: 'Contract-End', type: 'date', jsonPath: '.spec.contract.endsAt' });
  });

  it('accepts a valid Organization', () => {
    const validate = validatorFor('Organization');
    expect(validate(organization) ? [] : fieldErrors(validate.errors)).toEqual([]);
  });

  it('rejects a field of the wrong type, naming the field', () => {
    const validate = validatorFor('Organization');
    expect(validate(withSpec({ suspended: 'yes' }))).toBe(false);
    expect(fieldErrors(validate.errors)).toEqual(['spec.suspended: must be boolean']);
  });

  it('rejects a malformed contract end date and an out-of-range limit, naming both fields', () => {
    const validate = validatorFor('Organization');
    const bad = withSpec({ contract: { ...organization.spec.contract, endsAt: 'next June' }, limits: { requestsPerMinute: 0 } });
    expect(validate(bad)).toBe(false);
    expect(fieldErrors(validate.errors).sort()).toEqual(['spec.contract.endsAt: must match format "date-time"', 'spec.limits.requestsPerMinute: must be >= 1']);
  });

  it('rejects an unknown field under strict field validation', () => {
    const validate = validatorFor('Organization');
    expect(validate(withSpec({ suspend: true }))).toBe(false);
    expect(fieldErrors(validate.errors)).toEqual(['spec.suspend: must NOT have additional properties']);
  });

  it('rejects a domain longer than 253 characters (the zod lookahead, rewritten as maxLength)', () => {
    const validate = validatorFor('Organization');
    const long = `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}.example`;
    expect(validate(withSpec({ domains: [long] }))).toBe(false);
    expect(fieldErrors(validate.errors)).toEqual(['spec.domains.0: must NOT have more than 253 characters']);
  });

  it('requires spec', () => {
    const validate = validatorFor('Organization');
    const { spec: _spec, ...withoutSpec } = organization;
    expect(validate(withoutSpec)).toBe(false);
    expect(fieldErrors(validate.errors)).toEqual([": must have required property 'spec'"]);
  });
});

describe('the CEL rules (x-kubernetes-validations)', () => {
  it.each(kindNames)('of %s all parse', (kind) => {
    const def = KINDS.find((k) => k.kind === kind)!;
    for (const { rule } of def.celRules) expect(() => parseCel(rule)).not.toThrow();
  });

  const ref = { name: 'cascade-consulting' };

  it('accept good Client specs and reject bad ones with the rule message', () => {
    expect(failedRules(Client, { organizationRef: ref, type: 'web', redirectUris: ['https://portal.cascade.example/callback'] })).toEqual([]);
    expect(failedRules(Client, { organizationRef: ref, type: 'm2m' })).toEqual([]);
    expect(failedRules(Client, { organizationRef: ref, type: 'm2m', redirectUris: [] })).toEqual([]);
    expect(failedRules(Client, { organizationRef: ref, type: 'm2m', redirectUris: ['https://x.example/cb'] })).toEqual(['an m2m client has no redirect URIs']);
    expect(failedRules(Client, { organizationRef: ref, type: 'spa' })).toEqual(['a web, spa or native client needs at least one redirect URI']);
    expect(failedRules(Client, { organizationRef: ref, type: 'native', redirectUris: [] })).toEqual(['a web, spa or native client needs at least one redirect URI']);
  });

  it('accept good IdPConnection specs and reject bad ones with the rule message', () => {
    const oidc = { issuer: 'https://login.cascade.example', clientId: 'gatehouse' };
    const saml = { metadataUrl: 'https://idp.forge.example/metadata' };
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'oidc', oidc })).toEqual([]);
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'saml', saml })).toEqual([]);
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'directory' })).toEqual([]);
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'oidc' })).toEqual(['spec.oidc is required when type is oidc']);
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'saml', oidc })).toEqual(['spec.saml is required when type is saml', 'spec.oidc is only allowed when type is oidc']);
    expect(failedRules(IdPConnection, { organizationRef: ref, type: 'directory', saml })).toEqual(['spec.saml is only allowed when type is saml']);
  });

  it('accept a contract that ends after it starts and reject one that does not', () => {
    expect(failedRules(Organization, organization.spec)).toEqual([]);
    expect(failedRules(Organization, { displayName: 'No contract' })).toEqual([]);
    const backwards = { ...organization.spec, contract: { ...organization.spec.contract, startsAt: '2028-01-01T00:00:00Z' } };
    expect(failedRules(Organization, backwards)).toEqual(['spec.contract.endsAt must be later than startsAt']);
  });

  it('accept claims that set exactly one of value or from', () => {
    expect(
      failedRules(ClaimMapping, {
        organizationRef: ref,
        claims: [
          { name: 'partner', from: 'contract.partnerType' },
          { name: 'tier', value: 'gold' },
        ],
      }),
    ).toEqual([]);
    expect(failedRules(ClaimMapping, { organizationRef: ref, claims: [{ name: 'tier', value: 'gold', from: 'user.tier' }] })).toEqual(['each claim sets exactly one of value or from']);
  });
});

describe('the structural conversion of a zod schema', () => {
  it('writes literals as one-value enums', () => {
    expect(zodToStructural(z.literal('v1'))).toEqual({ type: 'string', enum: ['v1'] });
  });

  it('writes exclusive bounds in the OpenAPI v3.0 boolean form', () => {
    expect(zodToStructural(z.number().gt(0).lt(1))).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true });
  });

  it("drops zod's safe-integer bounds and keeps real ones", () => {
    expect(zodToStructural(z.int())).toEqual({ type: 'integer' });
    expect(zodToStructural(z.int().min(1))).toEqual({ type: 'integer', minimum: 1 });
  });

  it("keeps only the format of a date-time, not zod's pattern", () => {
    expect(zodToStructural(z.iso.datetime())).toEqual({ type: 'string', format: 'date-time' });
  });

  it('turns a strict object into one whose unknown fields Kubernetes prunes', () => {
    expect(zodToStructural(z.strictObject({ a: z.string() }))).toEqual({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
  });

  it('turns a loose object into one that keeps unknown fields', () => {
    expect(zodToStructural(z.looseObject({ a: z.string().optional() }))).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('turns a record into a map (additionalProperties), dropping the key pattern', () => {
    expect(zodToStructural(z.record(z.string().regex(/^[a-z]+$/), z.string()))).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
  });

  it('turns z.unknown() into a node that keeps any value', () => {
    expect(zodToStructural(z.strictObject({ raw: z.unknown().optional() }))).toEqual({
      type: 'object',
      properties: { raw: { 'x-kubernetes-preserve-unknown-fields': true } },
    });
  });

  it('writes a string-or-integer union as x-kubernetes-int-or-string', () => {
    expect(zodToStructural(z.union([z.string(), z.int()]))).toEqual({ 'x-kubernetes-int-or-string': true });
  });

  it('moves the type of a scalar union to the parent, leaving value validations in the branches', () => {
    expect(zodToStructural(z.union([z.string().regex(/^a/), z.string().regex(/^b/)]))).toEqual({
      type: 'string',
      anyOf: [{ pattern: '^a' }, { pattern: '^b' }],
    });
  });

  it('rewrites a length lookahead, which Go RE2 cannot compile, as minLength/maxLength', () => {
    expect(zodToStructural(z.string().regex(/^(?=.{1,10}$)[a-z.]+$/))).toEqual({ type: 'string', minLength: 1, maxLength: 10, pattern: '^[a-z.]+$' });
  });

  it('refuses, naming the field, what has no structural form', () => {
    expect(() => zodToStructural(z.strictObject({ name: z.string().regex(/^(?!admin)[a-z]+$/) }), 'spec')).toThrow(/spec\.name: pattern .* lookaround/);
    expect(() => zodToStructural(z.strictObject({ v: z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.int() })]) }), 'spec')).toThrow(/spec\.v: a union of object/);
    type Tree = { children?: Tree[] };
    const tree: z.ZodType<Tree> = z.lazy(() => z.strictObject({ children: z.array(tree).optional() }));
    expect(() => zodToStructural(z.strictObject({ tree }), 'spec')).toThrow(/recursive schema/);
  });
});
