import { describe, expect, it } from '@jest/globals';
import { KINDS, ValidationError, durationSeconds, parseObject, sortForApply } from '../../api/index.ts';
import { readManifests } from '../../controller/sources/manifest-files.ts';
import { NS, accessPolicy, client, claimMapping, idp, organization, user, workspace } from '../support/objects.ts';

function errorsOf(input: unknown): { path: string; message: string }[] {
  try {
    parseObject(input, { defaultNamespace: NS });
  } catch (error) {
    if (error instanceof ValidationError) return error.errors;
    throw error;
  }
  throw new Error('expected a validation error');
}

describe('the BlixitPartners examples', () => {
  it('are valid declarations of every kind but none invalid', async () => {
    const manifests = await readManifests('examples/blixit-partners');
    expect(manifests.errors).toEqual([]);
    const kinds = new Set(manifests.objects.map((m) => m.object.kind));
    expect([...kinds].sort()).toEqual(KINDS.map((k) => k.kind).sort());
    const orgs = manifests.objects.filter((m) => m.object.kind === 'Organization').map((m) => m.object.metadata.name);
    expect(orgs.sort()).toEqual(['cascade-consulting', 'forge-supplies', 'pinnacle-logistics']);
  });

  it('round-trip: parsing a parsed object gives the same object', async () => {
    const { objects } = await readManifests('examples/blixit-partners');
    for (const { object } of objects) expect(parseObject(JSON.parse(JSON.stringify(object)))).toEqual(object);
  });
});

describe('validation errors name the object and the field', () => {
  it('formats the message as "Kind namespace/name: path: problem"', () => {
    const bad = organization('cascade-consulting');
    (bad.spec as any).contract.endsAt = '2027-06-31';
    expect(() => parseObject(bad)).toThrow(`Organization ${NS}/cascade-consulting: spec.contract.endsAt: expected an RFC 3339 date-time`);
  });

  it('reports array positions and every bad field at once', () => {
    const errors = errorsOf(client('app', 'org', { redirectUris: ['https://ok.example/cb', 'not a uri'], scopes: ['bad scope'] }));
    expect(errors.map((e) => e.path)).toEqual(expect.arrayContaining(['spec.redirectUris[1]', 'spec.scopes[0]']));
  });

  it('rejects unknown fields in metadata and spec', () => {
    const o = organization('x');
    expect(errorsOf({ ...o, metadata: { ...o.metadata, uid: 'abc' } })).toContainEqual({ path: 'metadata.uid', message: 'unknown field' });
    expect(errorsOf({ ...o, extra: true })).toContainEqual({ path: 'extra', message: 'unknown field' });
  });

  it('rejects a wrong apiVersion or an unknown kind before anything else', () => {
    expect(errorsOf({ ...organization('x'), apiVersion: 'gatehouse.dev/v1' })).toEqual([{ path: 'apiVersion', message: 'expected "gatehouse.dev/v1alpha1"' }]);
    expect(errorsOf({ ...organization('x'), kind: 'Tenant' })).toEqual([{ path: 'kind', message: 'unknown kind "Tenant"' }]);
    expect(errorsOf('just a string')[0]!.message).toContain('expected an object');
  });

  it.each([
    ['uppercase', 'Cascade'],
    ['underscore', 'cascade_consulting'],
    ['leading dash', '-cascade'],
    ['trailing dash', 'cascade-'],
    ['dots', 'cascade.consulting'],
    ['too long', 'a'.repeat(64)],
    ['empty', ''],
  ])('rejects a name with %s', (_why, name) => {
    expect(errorsOf(organization(name)).map((e) => e.path)).toContain('metadata.name');
  });
});

describe('each kind checks what its fields mean together', () => {
  it('Organization: a contract ends after it starts', () => {
    const errors = errorsOf(organization('x', { contract: { id: 'c', partnerType: 'vendor', owner: 'o@b.example', startsAt: '2027-01-01T00:00:00Z', endsAt: '2026-01-01T00:00:00Z' } }));
    expect(errors).toContainEqual({ path: 'spec.contract.endsAt', message: 'endsAt must be later than startsAt' });
  });

  it('Client: m2m has no redirect URIs; the others need one; only native may use a private-use scheme', () => {
    expect(errorsOf(client('a', 'o', { type: 'm2m' })).map((e) => e.path)).toContain('spec.redirectUris');
    expect(errorsOf(client('a', 'o', { type: 'spa', redirectUris: [] })).map((e) => e.path)).toContain('spec.redirectUris');
    expect(errorsOf(client('a', 'o', { type: 'web', redirectUris: ['com.example.app:/cb'] })).map((e) => e.path)).toContain('spec.redirectUris[0]');
    expect(() => parseObject(client('a', 'o', { type: 'native', redirectUris: ['com.example.app:/cb'] }), { defaultNamespace: NS })).not.toThrow();
    expect(errorsOf(client('a', 'o', { redirectUris: ['https://app.example/cb#frag'] })).map((e) => e.path)).toContain('spec.redirectUris[0]');
  });

  it('IdPConnection: the block for its type is required and others are refused', () => {
    expect(errorsOf(idp('i', 'o', { type: 'saml' })).map((e) => e.path)).toEqual(expect.arrayContaining(['spec.saml', 'spec.oidc']));
    const saml = { type: 'saml', oidc: undefined, saml: { entityId: 'https://idp.example' } };
    expect(errorsOf(idp('i', 'o', saml)).map((e) => e.path)).toEqual(expect.arrayContaining(['spec.saml.ssoUrl', 'spec.saml.certificate']));
    expect(() => parseObject(idp('i', 'o', { type: 'saml', oidc: undefined, saml: { metadataUrl: 'https://idp.example/metadata' } }), { defaultNamespace: NS })).not.toThrow();
  });

  it('IdPConnection: a client secret is a reference, never a value', () => {
    const inline = idp('i', 'o', { oidc: { issuer: 'https://idp.example', clientId: 'x', clientSecret: 's3cr3t' } });
    expect(errorsOf(inline)).toContainEqual({ path: 'spec.oidc.clientSecret', message: 'unknown field' });
  });

  it('ClaimMapping: one source per claim, unique names, and reserved claims are refused', () => {
    expect(errorsOf(claimMapping('m', 'o', { claims: [{ name: 'a', value: 'x', from: 'contract.id' }] })).map((e) => e.path)).toContain('spec.claims[0]');
    expect(
      errorsOf(
        claimMapping('m', 'o', {
          claims: [
            { name: 'a', value: 'x' },
            { name: 'a', value: 'y' },
          ],
        }),
      ).map((e) => e.path),
    ).toContain('spec.claims');
    for (const reserved of ['organization_id', 'sub', 'iss', 'aud', 'act']) {
      expect(errorsOf(claimMapping('m', 'o', { claims: [{ name: reserved, value: 'forged' }] })).map((e) => e.path)).toContain('spec.claims[0].name');
    }
    expect(errorsOf(claimMapping('m', 'o', { claims: [{ name: 'x', from: 'process.env' }] })).map((e) => e.path)).toContain('spec.claims[0].from');
  });

  it('AccessPolicy: an api path is exact or a "/*" prefix, with a "*" nowhere else', () => {
    const api = (path: string) => accessPolicy('p', 'o', { scopes: [{ scope: 's', api: [{ path, methods: ['GET'] }] }] });
    for (const path of ['/orders', '/orders/*', '/*', '/']) expect(() => parseObject(api(path), { defaultNamespace: NS })).not.toThrow();
    for (const path of ['/orders*', '/orders/*/items', '/*/x', 'orders', '/a b']) expect(errorsOf(api(path)).map((e) => e.path)).toContain('spec.scopes[0].api[0].path');
  });

  it('User: roles come from a fixed set', () => {
    expect(errorsOf(user('u', 'o', { roles: ['superuser'] })).map((e) => e.path)).toContain('spec.roles[0]');
  });

  it('Workspace: lifetimes are durations', () => {
    expect(errorsOf(workspace({ tokens: { accessToken: '15 minutes' } })).map((e) => e.path)).toContain('spec.tokens.accessToken');
    expect(durationSeconds('15m')).toBe(900);
    expect(durationSeconds('30d')).toBe(2_592_000);
  });
});

describe('apply order', () => {
  it('puts kinds in dependency order and parent organizations before their children', () => {
    const items = [user('u', 'child'), organization('child', { parentRef: { name: 'mid' } }), client('c', 'root'), organization('mid', { parentRef: { name: 'root' } }), organization('root'), workspace()].map((o) => ({ object: parseObject(o, { defaultNamespace: NS }) }));
    expect(sortForApply(items).map((i) => `${i.object.kind}/${i.object.metadata.name}`)).toEqual(['Workspace/blixit', 'Organization/root', 'Organization/mid', 'Organization/child', 'Client/c', 'User/u']);
  });
});
