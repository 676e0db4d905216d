// Workspace.claimSchema: each custom claim's type, allowed values and whether it is required.
// Declarations that cannot fit are refused when admitted (422 naming object and claim); at
// run time a value that does not fit (a user's or upstream's attribute) is left out of the
// token and audited, and a token that would lack a required claim is refused.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';

const API = 'https://inventory.example';
const PASSWORD = 'correct horse battery staple 42';
let gh: TestServer;
const secrets: Record<string, string> = {};
const claimSchema = {
  tier: { type: 'enum', values: ['gold', 'silver'] },
  seats: { type: 'number' },
  vip: { type: 'boolean' },
  partner_since: { type: 'date' },
  regions: { type: 'stringList', values: ['eu', 'us'] },
  badge: { type: 'string', required: true },
  partner_kind: { type: 'enum', values: ['supplier', 'vendor'] },
};
const supplier = (org: string) => organization(org, { contract: { id: `C-${org}`, partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2027-06-30T23:59:59Z' } });

async function machine(org: string): Promise<Record<string, unknown>> {
  const config = await oidc.discovery(new URL(`${gh.url}/${NS}/${org}`), `${org}-sync.${NS}`, secrets[`${org}-sync`]!, undefined, { execute: [oidc.allowInsecureRequests] });
  return decodeJwt((await oidc.clientCredentialsGrant(config, { scope: 'inventory:read', resource: API })).access_token);
}

const refused = async (plural: string, object: { metadata: { name: string } }) => gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${object.metadata.name}`, object);

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace({ claimSchema }));
  for (const org of ['forge', 'cascade']) {
    await gh.put('organizations', organization(org));
    await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
    await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
    secrets[`${org}-sync`] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-sync/secret`)).body.clientSecret;
  }
  await gh.put(
    'claimmappings',
    claimMapping('forge-claims', 'forge', {
      claims: [
        { name: 'badge', value: 'B-7' },
        { name: 'seats', value: '42' },
        { name: 'vip', value: 'true' },
        { name: 'partner_since', from: 'contract.endsAt' },
        { name: 'tier', from: 'user.tier' },
      ],
    }),
  );
});
afterAll(async () => {
  await gh.close();
});

describe('at admit time', () => {
  it.each([
    ['tier', { value: 'platinum' }, 'value', 'not a valid enum (one of gold, silver)'],
    ['seats', { value: 'many' }, 'value', 'not a valid number'],
    ['vip', { value: 'yes' }, 'value', 'not a valid boolean'],
    ['partner_since', { value: 'next year' }, 'value', 'not a valid date'],
    ['partner_since', { from: 'contract.id' }, 'from', 'contract.id is a string'],
    ['seats', { from: 'organization.parents' }, 'from', 'organization.parents is a stringList'],
  ])('refuses a ClaimMapping whose %s %j cannot fit (422 naming object and claim)', async (name, source, field, message) => {
    const res = await refused('claimmappings', claimMapping('bad', 'cascade', { claims: [{ name, ...source }] }));
    expect(res.status).toBe(422);
    expect(res.body.object).toBe(`ClaimMapping ${NS}/bad`);
    expect(res.body.errors).toEqual([{ path: `spec.claims[0].${field}`, message: expect.stringContaining(`claim ${name}: `) }]);
    expect(res.body.errors[0].message).toContain(message);
  });

  it('refuses a mapping of an organization attribute whose value the schema does not allow (cascade is a consultant)', async () => {
    const res = await refused('claimmappings', claimMapping('cascade-kind', 'cascade', { claims: [{ name: 'partner_kind', from: 'contract.partnerType' }] }));
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'spec.claims[0].from', message: expect.stringContaining('organization cascade\'s contract.partnerType is "consultant", not a valid enum (one of supplier, vendor)') }]);
  });

  it('refuses an Organization change that puts a mapped attribute outside the schema, naming the mapping', async () => {
    await gh.put('organizations', supplier('pier'));
    await gh.put(
      'claimmappings',
      claimMapping('pier-kind', 'pier', {
        claims: [
          { name: 'partner_kind', from: 'contract.partnerType' },
          { name: 'badge', value: 'P-1' },
        ],
      }),
    );
    const res = await refused('organizations', organization('pier'));
    expect(res.status).toBe(422);
    expect(res.body.object).toBe(`Organization ${NS}/pier`);
    expect(res.body.errors).toEqual([{ path: 'spec.contract.partnerType', message: expect.stringContaining('ClaimMapping pier-kind maps it into claim partner_kind') }]);
  });

  it('refuses an OrganizationTemplate the same way, and admits what fits', async () => {
    const res = await refused('organizationtemplates', template('partners', { claims: [{ name: 'regions', value: 'apac' }] }));
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toMatchObject({ path: 'spec.claims[0].value', message: expect.stringContaining('claim regions') });
    await gh.put(
      'organizationtemplates',
      template('partners', {
        claims: [
          { name: 'regions', value: 'eu' },
          { name: 'tier', value: 'gold' },
        ],
      }),
    );
  });
});

describe('in tokens', () => {
  it('carries each claim as its type says (a number, a boolean, a date)', async () => {
    expect(await machine('forge')).toMatchObject({ badge: 'B-7', seats: 42, vip: true, partner_since: '2027-06-30T23:59:59Z' });
  });

  it('refuses a token that would lack a required claim (cascade maps no badge)', async () => {
    // oidc-provider answers every invalid_grant alike: a client learns nothing more from probing.
    await expect(machine('cascade')).rejects.toMatchObject({ error: 'invalid_grant' });
    const audit = (await gh.admin('GET', `/admin/v1/audit?action=token.refused&organization=cascade&limit=5`)).body.items;
    expect(audit[0]).toMatchObject({ outcome: 'refused', data: expect.objectContaining({ error: 'invalid_grant' }) });
  });

  it("leaves out a user's attribute that the schema does not allow, and keeps one it does", async () => {
    await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
    await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'inventory:read'], audiences: [API] }));
    secrets['forge-web'] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
    for (const [name, tier] of [
      ['plat', 'platinum'],
      ['goldie', 'gold'],
    ] as const) {
      await gh.put('users', user(name, 'forge', { email: `${name}@forge.example`, attributes: { tier } }));
      await setPassword(gh, name, PASSWORD);
      const tokens = await signIn(gh, 'forge', 'forge-web', secrets['forge-web']!, { email: `${name}@forge.example`, password: PASSWORD }, 'openid email inventory:read', { resource: API });
      const access = decodeJwt(tokens.access_token);
      expect(access.badge).toBe('B-7');
      if (tier === 'platinum') {
        expect(access.tier).toBeUndefined();
        expect(tokens.claims()!.tier).toBeUndefined();
        const dropped = (await gh.admin('GET', `/admin/v1/audit?action=token.claims-dropped&organization=forge&limit=10`)).body.items;
        expect(dropped).toEqual(expect.arrayContaining([expect.objectContaining({ subject: name, data: expect.objectContaining({ claims: ['tier'], token: 'access' }) }), expect.objectContaining({ subject: name, data: expect.objectContaining({ claims: ['tier'], token: 'id' }) })]));
        expect(JSON.stringify(dropped)).not.toContain('platinum');
      } else {
        expect(access.tier).toBe('gold');
        expect(tokens.claims()!.tier).toBe('gold');
      }
    }
  });
});
