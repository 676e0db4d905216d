import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { KINDS } from '../../api/index.ts';
import { renderPulumiFiles, stalePulumiFiles } from '../../provider/generate.ts';
import { pulumiSchema, type PackageSchema, type PropertySpec } from '../../provider/schema.ts';

const schema = pulumiSchema('0.0.0-test');
const checkedIn = JSON.parse(readFileSync(new URL('../../provider/schema.json', import.meta.url), 'utf8')) as PackageSchema;

/** Every `$ref` of a property, nested ones included. */
function refs(property: PropertySpec): string[] {
  return [...(property.$ref ? [property.$ref] : []), ...(property.items ? refs(property.items) : []), ...(property.additionalProperties ? refs(property.additionalProperties) : [])];
}

describe('schema.json, the native provider package schema derived from api/', () => {
  it('is checked in as generate.ts writes it, with the SDK generated from it', () => {
    expect(stalePulumiFiles().map((f) => `provider/${f} is stale — run \`npm run gen:pulumi-schema\` and commit it`)).toEqual([]);
    expect(renderPulumiFiles().get('native-sdk.ts')).toContain("static readonly __pulumiType = 'gatehouse:index:Organization'");
  });

  it('has one resource per kind, named gatehouse:index:<Kind>, with the kind description', () => {
    expect(Object.keys(checkedIn.resources)).toEqual(KINDS.map((k) => `gatehouse:index:${k.kind}`));
    for (const def of KINDS) expect(checkedIn.resources[`gatehouse:index:${def.kind}`]!.description.startsWith(def.description)).toBe(true);
  });

  it('requires the namespace and the spec, and the spec types their required fields', () => {
    const organization = schema.resources['gatehouse:index:Organization']!;
    expect(organization.requiredInputs).toEqual(['namespace', 'spec']);
    expect(schema.types['gatehouse:index:OrganizationSpec']!.required).toEqual(['displayName']);
    expect(schema.types['gatehouse:index:ClientSpec']!.properties.type!.description).toBe('One of `web`, `spa`, `native`, `m2m`.');
    expect(schema.types['gatehouse:index:OrganizationSpecContract']!.required).toEqual(['id', 'partnerType', 'owner', 'endsAt']);
  });

  it('resolves every type reference', () => {
    const properties = [...Object.values(schema.resources).flatMap((r) => [...Object.values(r.properties), ...Object.values(r.inputProperties)]), ...Object.values(schema.types).flatMap((t) => Object.values(t.properties))];
    const missing = properties.flatMap(refs).filter((ref) => !schema.types[ref.slice('#/types/'.length)]);
    expect(missing).toEqual([]);
  });

  it('marks the client secret and the admin token secret', () => {
    const secrets = Object.entries(schema.resources).flatMap(([token, r]) =>
      Object.entries(r.properties)
        .filter(([, p]) => p.secret)
        .map(([key]) => `${token}.${key}`),
    );
    expect(secrets).toEqual(['gatehouse:index:Client.clientSecret']);
    expect(schema.config.variables.token).toMatchObject({ secret: true });
    expect(schema.provider.inputProperties.token).toMatchObject({ secret: true });
    expect(schema.provider.properties).not.toHaveProperty('token');
  });

  it('says which changes replace: namespace, name, and the owning organization', () => {
    for (const [token, resource] of Object.entries(schema.resources)) {
      expect([token, resource.inputProperties.name!.willReplaceOnChanges, resource.inputProperties.namespace!.willReplaceOnChanges]).toEqual([token, true, true]);
    }
    expect(schema.types['gatehouse:index:ClientSpec']!.properties.organizationRef).toMatchObject({ $ref: '#/types/gatehouse:index:LocalRef', willReplaceOnChanges: true });
    expect(schema.types['gatehouse:index:OrganizationSpec']!.properties.parentRef).not.toHaveProperty('willReplaceOnChanges');
  });
});
