/**
 * SCIM 2.0 provisioning (RFC 7643/7644) at `{issuer}/scim/v2/`, from the partner IdP's side:
 * its token, the discovery documents, Users and Groups, the guardrails, and what
 * deprovisioning does to a user who really signed in (through a real OIDC peer).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import SCIMMY from 'scimmy';
import { Metrics } from '../../../server/observability/metrics.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, claimMapping, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startOidcPeer, type OidcPeer, type PeerUser } from '../../../demo/peers/oidc-idp.ts';
import { CALLBACK, resume, startSignIn, submit, text } from '../broker/flow.ts';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let gh: TestServer;
let peer: OidcPeer;
const metrics = new Metrics({ processMetrics: false });
const tokens: Record<string, string> = {};
let webSecret = '';
const insecure = { execute: [oidc.allowInsecureRequests] };
const issuerOf = (org?: string) => `${gh.url}/${NS}${org ? `/${org}` : ''}`;
const people: PeerUser[] = [
  { sub: '00u-lena', email: 'lena@forge.example', password: 'forge-pass', name: 'Lena Forge' },
  { sub: '00u-omar', email: 'omar@forge.example', password: 'forge-pass', name: 'Omar Forge' },
];

interface Answer {
  status: number;
  type: string;
  body: any;
  headers: Headers;
}

/** A SCIM request as an IdP's provisioning agent sends it. */
async function scim(method: string, path: string, body?: unknown, options: { token?: string | null; org?: string; type?: string } = {}): Promise<Answer> {
  const token = options.token === undefined ? tokens['forge-okta'] : options.token;
  const res = await fetch(`${issuerOf(options.org ?? 'forge')}/scim/v2${path}`, {
    method,
    headers: {
      accept: 'application/scim+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': options.type ?? 'application/scim+json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const raw = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: raw ? JSON.parse(raw) : undefined, headers: res.headers };
}

const q = (filter: string) => `?filter=${encodeURIComponent(filter)}`;
const patchOf = (...Operations: object[]) => ({ schemas: [PATCH], Operations });
const audit = async (action: string) => (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=200`)).body.items as { actor: string; subject: string | null; name: string | null; organization: string | null; data: Record<string, unknown> }[];

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString(), metrics });
  peer = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 'forge-upstream-secret', redirectUris: [`${issuerOf('forge')}/broker/forge-okta/callback`], users: people, title: 'Forge SSO' });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', emailDomains: ['forge.example', 'forge-labs.example'] }));
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
  // Sign-ins of forge.example go to Forge's OIDC IdP; the two other connections route only forge-labs.example.
  await gh.put('idpconnections', idp('forge-okta', 'forge', { emailDomains: ['forge.example'], oidc: { issuer: peer.url, clientId: 'gatehouse', clientSecretRef: { name: 'forge-okta', key: 'client-secret' } }, jit: { enabled: true, defaultRoles: ['supplier-user'] }, scim: { enabled: true } }));
  await gh.put('idpconnections', idp('forge-entra', 'forge', { emailDomains: ['forge-labs.example'], type: 'directory', oidc: undefined, scim: { enabled: true } }));
  await gh.put('idpconnections', idp('forge-plain', 'forge', { emailDomains: ['forge-labs.example'], type: 'directory', oidc: undefined }));
  await gh.put('idpconnections', idp('cascade-okta', 'cascade', { type: 'directory', oidc: undefined, scim: { enabled: true } }));
  await gh.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile', 'offline_access'] }));
  await gh.put(
    'claimmappings',
    claimMapping('forge-claims', 'forge', {
      claims: [
        { name: 'groups', from: 'user.groups', tokens: ['id', 'access'] },
        { name: 'department', from: 'user.department', tokens: ['id'] },
      ],
    }),
  );
  expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/secrets/forge-okta`, { data: { 'client-secret': 'forge-upstream-secret' } })).status).toBe(201);
  webSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
  for (const name of ['forge-okta', 'forge-entra', 'cascade-okta']) {
    const issued = await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/${name}/scim-token`);
    expect(issued.status).toBe(201);
    tokens[name] = issued.body.token;
  }
});
afterAll(async () => {
  await gh.close();
  await peer.close();
});

describe('the SCIM token of a connection', () => {
  it('is shown once, at issue, with the endpoint to give the IdP, and never afterwards', async () => {
    const issued = await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/forge-okta/scim-token`);
    expect(issued.status).toBe(201);
    expect(issued.headers.get('cache-control')).toBe('no-store');
    expect(issued.body).toMatchObject({ connection: 'forge-okta', organization: 'forge', endpoint: `${issuerOf('forge')}/scim/v2`, token: expect.stringMatching(/^ghscim_[A-Za-z0-9_-]{43}$/) });
    tokens['forge-okta'] = issued.body.token;
    const read = JSON.stringify((await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/forge-okta`)).body);
    const audited = JSON.stringify(await audit('IdPConnection.scim-token-rotated'));
    for (const place of [read, audited, JSON.stringify(await gh.store.scim.tokens(NS, 'forge'))]) expect(place).not.toContain(issued.body.token);
  });

  it('rotation retires the previous token at once, audited with the connection', async () => {
    const before = tokens['forge-okta']!;
    expect((await scim('GET', '/ServiceProviderConfig', undefined, { token: before })).status).toBe(200);
    const rotated = await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/forge-okta/scim-token`);
    tokens['forge-okta'] = rotated.body.token;
    expect((await scim('GET', '/ServiceProviderConfig', undefined, { token: before })).status).toBe(401);
    expect((await scim('GET', '/ServiceProviderConfig')).status).toBe(200);
    expect((await audit('IdPConnection.scim-token-rotated')).filter((r) => r.name === 'forge-okta').length).toBeGreaterThanOrEqual(3);
  });

  it('is refused (409, naming spec.scim.enabled) for a connection that does not enable SCIM, and 404 for a missing one', async () => {
    const refused = await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/forge-plain/scim-token`);
    expect(refused.status).toBe(409);
    expect(refused.body.errors).toEqual([{ path: 'spec.scim.enabled', message: expect.any(String) }]);
    expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/nobody/scim-token`)).status).toBe(404);
  });

  it("works only at its own organization: another organization's endpoint refuses it, and its own refuses the others'", async () => {
    expect((await scim('GET', '/Users', undefined, { token: tokens['cascade-okta'] })).status).toBe(401);
    expect((await scim('GET', '/Users', undefined, { org: 'cascade' })).status).toBe(401);
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token: tokens['cascade-okta'] })).status).toBe(200);
  });

  it('is refused without a token, with a malformed one, and at the shared issuer, as SCIM errors; refusals are audited', async () => {
    for (const token of [null, 'not a token', 'ghscim_guess']) {
      const res = await scim('GET', '/Users', undefined, { token });
      expect(res.status).toBe(401);
      expect(res.type).toContain('application/scim+json');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.body).toMatchObject({ schemas: [ERROR], status: '401' });
    }
    const shared = await fetch(`${issuerOf()}/scim/v2/Users`, { headers: { authorization: `Bearer ${tokens['forge-okta']}` } });
    expect(shared.status).toBe(404);
    const refused = (await audit('access.refused-token')).filter((r) => String(r.data.path).includes('/scim/v2'));
    expect(refused.map((r) => r.data.reason)).toEqual(expect.arrayContaining(['scim-missing', 'scim-malformed', 'scim-unknown']));
    expect(JSON.stringify(refused)).not.toContain('ghscim_guess');
  });

  it('stops working once SCIM is disabled on the connection, and once it is revoked', async () => {
    await gh.put('idpconnections', idp('cascade-okta', 'cascade', { type: 'directory', oidc: undefined, scim: { enabled: false } }));
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token: tokens['cascade-okta'] })).status).toBe(401);
    await gh.put('idpconnections', idp('cascade-okta', 'cascade', { type: 'directory', oidc: undefined, scim: { enabled: true } }));
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token: tokens['cascade-okta'] })).status).toBe(200);
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/idpconnections/cascade-okta/scim-token`)).body).toEqual({ revoked: true });
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token: tokens['cascade-okta'] })).status).toBe(401);
    expect((await audit('IdPConnection.scim-token-revoked')).map((r) => r.name)).toContain('cascade-okta');
  });
});

describe('a deleted connection', () => {
  it('takes its token with it: declared again under the same name, it starts without one', async () => {
    await gh.put('idpconnections', idp('cascade-temp', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'], scim: { enabled: true } }));
    const token = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/cascade-temp/scim-token`)).body.token;
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token })).status).toBe(200);
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/idpconnections/cascade-temp`)).status).toBe(200);
    await gh.put('idpconnections', idp('cascade-temp', 'cascade', { type: 'directory', oidc: undefined, emailDomains: ['cascade.example'], scim: { enabled: true } }));
    expect((await scim('GET', '/Users', undefined, { org: 'cascade', token })).status).toBe(401);
    expect(await gh.store.scim.token(NS, 'cascade-temp')).toBeUndefined();
    await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/idpconnections/cascade-temp`);
  });
});

describe('PUT replaces a resource', () => {
  it('a user: every stored attribute is the new one, and active is applied', async () => {
    const id = (await scim('POST', '/Users', { schemas: [USER], userName: 'replaced@forge.example', externalId: 'put-me', title: 'Buyer', name: { givenName: 'Put' } })).body.id;
    const res = await scim('PUT', `/Users/${id}`, { schemas: [USER], userName: 'replaced@forge.example', externalId: 'put-me', displayName: 'Put Me', active: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ displayName: 'Put Me', active: false });
    expect(res.body.title).toBeUndefined();
    expect(res.body.name).toBeUndefined();
    expect((await gh.store.users.find(NS, id))?.active).toBe(false);
  });

  it('a group: its name and exactly the members listed', async () => {
    const a = (await scim('POST', '/Users', { schemas: [USER], userName: 'member.a@forge.example' })).body.id;
    const b = (await scim('POST', '/Users', { schemas: [USER], userName: 'member.b@forge.example' })).body.id;
    const group = (await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Put group', members: [{ value: a }] })).body.id;
    const res = await scim('PUT', `/Groups/${group}`, { schemas: [GROUP], displayName: 'Put group 2', members: [{ value: b }] });
    expect(res.body).toMatchObject({ displayName: 'Put group 2', members: [expect.objectContaining({ value: b })] });
    expect((await gh.store.users.find(NS, a))?.profile.groups).toEqual([]);
    expect((await gh.store.users.find(NS, b))?.profile.groups).toEqual(['Put group 2']);
  });
});

describe('discovery', () => {
  it('ServiceProviderConfig says what is supported: PATCH and filters, no bulk, sort, etag or password change; bearer tokens', async () => {
    const res = await scim('GET', '/ServiceProviderConfig');
    expect(res.type).toContain('application/scim+json');
    expect(res.body).toMatchObject({ patch: { supported: true }, filter: { supported: true, maxResults: 200 }, bulk: { supported: false }, sort: { supported: false }, etag: { supported: false }, changePassword: { supported: false }, authenticationSchemes: [{ type: 'oauthbearertoken' }] });
  });

  it('ResourceTypes lists User (with the Enterprise extension) and Group, each readable by id', async () => {
    const list = await scim('GET', '/ResourceTypes');
    expect(list.body.Resources.map((r: { id: string }) => r.id)).toEqual(['User', 'Group']);
    expect((await scim('GET', '/ResourceTypes/User')).body).toMatchObject({ endpoint: '/Users', schema: USER, schemaExtensions: [{ schema: ENTERPRISE, required: false }] });
    expect((await scim('GET', '/ResourceTypes/Device')).status).toBe(404);
  });

  it('Schemas describes User, EnterpriseUser and Group attributes, each readable by its URN', async () => {
    const list = await scim('GET', '/Schemas');
    expect(list.body.Resources.map((s: { id: string }) => s.id)).toEqual([USER, ENTERPRISE, GROUP]);
    const user = (await scim('GET', `/Schemas/${USER}`)).body;
    expect(user.attributes.find((a: { name: string }) => a.name === 'userName')).toMatchObject({ type: 'string', required: true, uniqueness: 'server', caseExact: false });
    expect((await scim('GET', '/Schemas/urn:nothing')).status).toBe(404);
  });

  it('unknown paths and methods are SCIM errors (404, 405 with Allow)', async () => {
    expect((await scim('GET', '/Devices')).status).toBe(404);
    const res = await scim('DELETE', '/ServiceProviderConfig');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(res.body.schemas).toEqual([ERROR]);
  });
});

/** The request bodies of Okta's SCIM 2.0 reference (developer.okta.com, "Okta and SCIM Version 2.0"), in the order Okta sends them. */
describe("Okta's provisioning sequence, replayed", () => {
  let id = '';
  let groupId = '';

  it('tests the connection with the constant queries it sends on save', async () => {
    const users = await scim('GET', '/Users?startIndex=1&count=2');
    expect(users.status).toBe(200);
    expect(users.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], startIndex: 1 });
    expect((await scim('GET', '/Groups?startIndex=1&count=100')).status).toBe(200);
  });

  it('looks the user up by userName, finds nobody, and creates it (its password and groups ignored, never stored)', async () => {
    const lookup = await scim('GET', `/Users${q('userName eq "omar@forge.example"')}&startIndex=1&count=100`);
    expect(lookup.body).toMatchObject({ totalResults: 0, Resources: [] });
    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: 'omar@forge.example',
      name: { givenName: 'Omar', familyName: 'Forge' },
      emails: [{ primary: true, value: 'omar@forge.example', type: 'work' }],
      displayName: 'Omar Forge',
      locale: 'en-US',
      externalId: '00u-omar',
      groups: [],
      password: '1mz050nq',
      active: true,
    });
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/scim+json');
    id = created.body.id;
    expect(created.headers.get('location')).toBe(`${issuerOf('forge')}/scim/v2/Users/${id}`);
    expect(created.body).toMatchObject({ schemas: [USER], userName: 'omar@forge.example', externalId: '00u-omar', active: true, name: { givenName: 'Omar' }, meta: { resourceType: 'User', location: `${issuerOf('forge')}/scim/v2/Users/${id}` } });
    expect(created.body.password).toBeUndefined();
    expect(JSON.stringify(await gh.store.users.find(NS, id))).not.toContain('1mz050nq');
    expect((await scim('GET', `/Users${q('userName eq "omar@forge.example"')}`)).body.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
  });

  it('updates a name with a path-less replace, and deactivates with {"active": false}', async () => {
    const renamed = await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { name: { givenName: 'Omari' } } }));
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toEqual({ givenName: 'Omari', familyName: 'Forge' });
    const off = await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { active: false } }));
    expect(off.body.active).toBe(false);
    expect((await scim('GET', `/Users/${id}`)).body.active).toBe(false);
    expect((await gh.store.users.find(NS, id))?.active).toBe(false);
  });

  it('reactivates a user it deactivated', async () => {
    expect((await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { active: true } }))).body.active).toBe(true);
  });

  it('pushes a group, adds the user, renames it (its id in the value), and removes the user by a member filter', async () => {
    const created = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(created.status).toBe(201);
    groupId = created.body.id;
    const added = await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'add', path: 'members', value: [{ value: id, display: 'omar@forge.example' }] }));
    expect(added.body.members).toEqual([expect.objectContaining({ value: id, display: 'omar@forge.example' })]);
    expect((await scim('GET', `/Users/${id}`)).body.groups).toEqual([expect.objectContaining({ value: groupId, display: 'Test SCIMv2' })]);
    const renamed = await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'replace', value: { id: groupId, displayName: 'Buyers' } }));
    expect(renamed.body.displayName).toBe('Buyers');
    expect((await gh.store.users.find(NS, id))?.profile.groups).toEqual(['Buyers']);
    const removed = await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'remove', path: `members[value eq "${id}"]` }));
    expect(removed.body.members).toEqual([]);
    expect((await gh.store.users.find(NS, id))?.profile.groups).toEqual([]);
  });

  it('every change is audited with the connection as actor', async () => {
    for (const action of ['user.provisioned', 'user.updated', 'user.deactivated', 'user.reactivated']) {
      expect((await audit(action)).filter((r) => r.subject === id).map((r) => r.actor)).toContain('scim:forge-okta');
    }
    expect((await audit('group.updated')).map((r) => r.actor)).toContain('scim:forge-okta');
  });
});

/**
 * The request bodies of Microsoft's "Develop and plan provisioning for a SCIM endpoint" (its
 * request/response examples) and of its SCIM compatibility notes (boolean strings, path-less
 * ops), with the example domain replaced by the organization's own.
 */
describe("Entra ID's provisioning sequence, replayed", () => {
  const entra = (method: string, path: string, body?: unknown) => scim(method, path, body, { token: tokens['forge-entra'] });
  let id = '';
  let other = '';
  let groupId = '';

  it('creates a user with the Enterprise extension; its attributes become user attributes', async () => {
    const created = await entra('POST', '/Users', {
      schemas: [USER, ENTERPRISE],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName: 'Test_User_ab6490ee@forge.example',
      active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b@forge.example' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
      [ENTERPRISE]: { department: 'Procurement', employeeNumber: '4711', manager: { value: 'boss-id' } },
    });
    expect(created.status).toBe(201);
    id = created.body.id;
    expect(created.body.schemas).toEqual([USER, ENTERPRISE]);
    // userName is case-insensitive: kept lower-cased.
    expect(created.body.userName).toBe('test_user_ab6490ee@forge.example');
    const stored = await gh.store.users.find(NS, id);
    expect(stored).toMatchObject({ email: 'test_user_fd0ea19b@forge.example', connection: 'forge-entra', subject: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef', profile: { name: 'givenName familyName', attributes: { department: 'Procurement', employeeNumber: '4711', manager: 'boss-id' } } });
    other = (await entra('POST', '/Users', { schemas: [USER], externalId: 'e-2', userName: 'second@forge.example', active: true })).body.id;
  });

  it('queries by userName and by the work email', async () => {
    expect((await entra('GET', `/Users${q('userName eq "Test_User_ab6490ee@forge.example"')}`)).body.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
    expect((await entra('GET', `/Users${q('emails[type eq "work"].value eq "Test_User_fd0ea19b@forge.example"')}`)).body.totalResults).toBe(1);
  });

  it('updates multi-valued and single-valued attributes', async () => {
    const res = await entra('PATCH', `/Users/${id}`, patchOf({ op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@forge.example' }, { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' }));
    expect(res.status).toBe(200);
    expect(res.body.emails).toEqual([{ primary: true, type: 'work', value: 'updatedEmail@forge.example' }]);
    expect(res.body.name.familyName).toBe('updatedFamilyName');
    const renamed = await entra('PATCH', `/Users/${id}`, patchOf({ op: 'Replace', path: 'userName', value: '5b50642d@forge.example' }));
    expect(renamed.body.userName).toBe('5b50642d@forge.example');
    const dept = await entra('PATCH', `/Users/${id}`, patchOf({ op: 'Add', path: `${ENTERPRISE}:department`, value: 'Logistics' }));
    expect(dept.body[ENTERPRISE].department).toBe('Logistics');
    expect((await gh.store.users.find(NS, id))?.profile.attributes?.department).toBe('Logistics');
  });

  it('reads "False" and "True" strings as booleans, with a path and in a path-less replace', async () => {
    expect((await entra('PATCH', `/Users/${other}`, patchOf({ op: 'Replace', path: 'active', value: 'False' }))).body.active).toBe(false);
    expect((await entra('PATCH', `/Users/${other}`, patchOf({ op: 'Replace', value: { active: 'True' } }))).body.active).toBe(true);
    const pathless = await entra('PATCH', `/Users/${other}`, patchOf({ op: 'Add', value: { 'name.givenName': 'Sandy', [`${ENTERPRISE}:employeeNumber`]: '42', displayName: 'Sandy' } }));
    expect(pathless.body).toMatchObject({ name: { givenName: 'Sandy' }, displayName: 'Sandy', [ENTERPRISE]: { employeeNumber: '42' } });
  });

  it('disables a user with the documented body', async () => {
    const res = await entra('PATCH', `/Users/${other}`, { Operations: [{ op: 'Replace', path: 'active', value: false }], schemas: [PATCH] });
    expect(res.body.active).toBe(false);
  });

  it('creates a group, reads it without members, finds it by displayName, renames it, adds and removes members ($ref null)', async () => {
    const created = await entra('POST', '/Groups', { schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'displayName', meta: { resourceType: 'Group' } });
    expect(created.status).toBe(201);
    groupId = created.body.id;
    expect(created.body.externalId).toBe('8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159');
    const read = await entra('GET', `/Groups/${groupId}?excludedAttributes=members`);
    expect(read.body.members).toBeUndefined();
    const found = await entra('GET', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "displayName"')}`);
    expect(found.body.Resources.map((g: { id: string }) => g.id)).toEqual([groupId]);
    expect((await entra('PATCH', `/Groups/${groupId}`, patchOf({ op: 'Replace', path: 'displayName', value: 'Gatehouse Admins' }))).body.displayName).toBe('Gatehouse Admins');
    const added = await entra(
      'PATCH',
      `/Groups/${groupId}`,
      patchOf({
        op: 'Add',
        path: 'members',
        value: [
          { $ref: null, value: id },
          { $ref: null, value: other },
        ],
      }),
    );
    expect(added.body.members.map((m: { value: string }) => m.value).sort()).toEqual([id, other].sort());
    const removed = await entra('PATCH', `/Groups/${groupId}`, patchOf({ op: 'Remove', path: 'members', value: [{ $ref: null, value: other }] }));
    expect(removed.body.members.map((m: { value: string }) => m.value)).toEqual([id]);
  });

  it('deletes the user (204) and then the group (204); both are gone', async () => {
    const deleted = await entra('DELETE', `/Users/${other}`);
    expect(deleted.status).toBe(204);
    expect((await entra('GET', `/Users/${other}`)).status).toBe(404);
    expect((await entra('DELETE', `/Groups/${groupId}`)).status).toBe(204);
    expect((await entra('GET', `/Groups/${groupId}`)).status).toBe(404);
    expect((await gh.store.users.find(NS, id))?.profile.groups).toEqual([]);
  });
});

describe('guardrails', () => {
  it("refuses a userName outside the organization's email domains with 422 naming userName", async () => {
    for (const userName of ['ana@cascade.example', 'mallory@forge.example.evil', 'not-an-email', '"ana@cascade.example"@forge.example']) {
      const res = await scim('POST', '/Users', { schemas: [USER], userName, externalId: `x-${userName}` });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ schemas: [ERROR], status: '422', scimType: 'invalidValue', detail: expect.stringMatching(/^userName: /) });
    }
  });

  it('refuses an email outside them, naming which one, on create and on PATCH', async () => {
    const res = await scim('POST', '/Users', { schemas: [USER], userName: 'ivy@forge.example', emails: [{ value: 'ivy@forge-labs.example' }, { value: 'ivy@cascade.example' }] });
    expect(res.status).toBe(422);
    expect(res.body.detail).toMatch(/^emails\[1\]\.value: ivy@cascade\.example/);
    const ok = await scim('POST', '/Users', { schemas: [USER], userName: 'ivy@forge.example', emails: [{ value: 'ivy@forge-labs.example' }] });
    expect(ok.status).toBe(201);
    const patched = await scim('PATCH', `/Users/${ok.body.id}`, patchOf({ op: 'add', path: 'emails', value: [{ value: 'ivy@gmail.example', type: 'home' }] }));
    expect(patched.status).toBe(422);
    expect((await scim('GET', `/Users/${ok.body.id}`)).body.emails).toEqual([{ value: 'ivy@forge-labs.example' }]);
  });

  it("sees only its own connection's users and groups: another connection's are 404, as missing ones are", async () => {
    const mine = (await scim('POST', '/Users', { schemas: [USER], userName: 'kim@forge.example', externalId: 'kim' })).body.id;
    const theirs = await scim('GET', `/Users/${mine}`, undefined, { token: tokens['forge-entra'] });
    expect(theirs.status).toBe(404);
    expect(theirs.body).toMatchObject({ schemas: [ERROR], status: '404' });
    expect((await scim('PATCH', `/Users/${mine}`, patchOf({ op: 'replace', value: { active: false } }), { token: tokens['forge-entra'] })).status).toBe(404);
    expect((await scim('DELETE', `/Users/${mine}`, undefined, { token: tokens['forge-entra'] })).status).toBe(404);
    expect((await scim('GET', '/Users', undefined, { token: tokens['forge-entra'] })).body.Resources.map((u: { id: string }) => u.id)).not.toContain(mine);
    const group = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Entra group', members: [{ value: mine }] }, { token: tokens['forge-entra'] });
    expect(group.status).toBe(400);
    expect(group.body.detail).toMatch(/^members\[0\]\.value/);
  });

  it('refuses duplicates (409 uniqueness), a changed externalId (400 mutability), and read-only attributes', async () => {
    const dup = await scim('POST', '/Users', { schemas: [USER], userName: 'KIM@forge.example' });
    expect(dup.status).toBe(409);
    expect(dup.body.scimType).toBe('uniqueness');
    const kim = (await scim('GET', `/Users${q('userName eq "kim@forge.example"')}`)).body.Resources[0];
    const moved = await scim('PUT', `/Users/${kim.id}`, { schemas: [USER], userName: 'kim@forge.example', externalId: 'someone-else' });
    expect(moved.status).toBe(400);
    expect(moved.body.scimType).toBe('mutability');
    expect((await scim('PATCH', `/Users/${kim.id}`, patchOf({ op: 'replace', path: 'id', value: 'mine' }))).body.scimType).toBe('mutability');
    expect((await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Twins' })).status).toBe(201);
    expect((await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'twins' })).body.scimType).toBe('uniqueness');
  });

  it('never adopts a declared user, even through a connection named like the directory', async () => {
    await gh.put('idpconnections', idp('directory', 'forge', { type: 'directory', oidc: undefined, emailDomains: ['forge-labs.example'], scim: { enabled: true } }));
    await gh.put('users', user('dora', 'forge', { email: 'dora@forge.example' }));
    const token = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/directory/scim-token`)).body.token;
    const res = await scim('POST', '/Users', { schemas: [USER], userName: 'dora@forge.example', externalId: 'dora' }, { token });
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain('declared User dora');
    expect((await gh.store.users.find(NS, 'dora'))?.declaredAs).toBe('dora');
    await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/idpconnections/directory`);
  });

  it('answers malformed requests with the RFC 7644 scimTypes', async () => {
    expect((await scim('POST', '/Users', '{not json')).body.scimType).toBe('invalidSyntax');
    expect((await scim('POST', '/Users', { schemas: [USER] })).body).toMatchObject({ status: '400', scimType: 'invalidValue', detail: expect.stringMatching(/^userName/) });
    expect((await scim('POST', '/Users', { schemas: [USER], userName: 'x@forge.example' }, { type: 'text/plain' })).status).toBe(415);
    expect((await scim('GET', `/Users${q('userName xx "a"')}`)).body.scimType).toBe('invalidFilter');
    expect((await scim('GET', `/Users${q('userName eq "a')}`)).body.scimType).toBe('invalidFilter');
    const kim = (await scim('GET', `/Users${q('userName eq "kim@forge.example"')}`)).body.Resources[0];
    expect((await scim('PATCH', `/Users/${kim.id}`, { Operations: [{ op: 'replace', value: { active: false } }] })).body.scimType).toBe('invalidSyntax');
    expect((await scim('PATCH', `/Users/${kim.id}`, patchOf({ op: 'move', path: 'active', value: false }))).body.scimType).toBe('invalidSyntax');
    expect((await scim('PATCH', `/Users/${kim.id}`, patchOf({ op: 'remove' }))).body.scimType).toBe('noTarget');
    expect((await scim('PATCH', `/Users/${kim.id}`, patchOf({ op: 'replace', path: 'emails[type eq "work"', value: 'x' }))).status).toBe(400);
    expect((await scim('GET', '/Users/no-such-user')).status).toBe(404);
  });
});

describe('filters and pagination', () => {
  beforeAll(async () => {
    for (const [n, active] of [
      ['p1', true],
      ['p2', false],
      ['p3', true],
    ] as const) {
      await scim('POST', '/Users', { schemas: [USER], userName: `${n}@forge-labs.example`, externalId: `ext-${n}`, emails: [{ value: `${n}.mail@forge.example`, primary: true }], active });
    }
  });
  const ids = async (filter: string) => (await scim('GET', `/Users${q(filter)}`)).body.Resources.map((u: { userName: string }) => u.userName).sort();

  it('userName eq, externalId eq, emails.value eq and active eq, combined with and', async () => {
    expect(await ids('userName eq "P1@forge-labs.example"')).toEqual(['p1@forge-labs.example']);
    expect(await ids('externalId eq "ext-p2"')).toEqual(['p2@forge-labs.example']);
    expect(await ids('emails.value eq "p3.mail@forge.example"')).toEqual(['p3@forge-labs.example']);
    expect(await ids('userName sw "p" and active eq false')).toEqual(['p2@forge-labs.example']);
    expect(await ids('userName ew "@forge-labs.example" and (active eq true or externalId eq "ext-p2")')).toEqual(['p1@forge-labs.example', 'p2@forge-labs.example', 'p3@forge-labs.example']);
  });

  // (SCIMMY 1.3.5 throws on an attribute path into a complex attribute some resources lack, so none is compared here.)
  it("agrees with SCIMMY's filter implementation on the same users", async () => {
    const all = (await scim('GET', '/Users')).body.Resources as Record<string, unknown>[];
    for (const f of ['userName eq "p1@forge-labs.example"', 'active eq false', 'userName sw "p" and active eq true', 'externalId eq "kim" or userName co "p3"', 'not (active eq true)', 'userName ew "@forge.example"']) {
      const theirs = new SCIMMY.Types.Filter(f)
        .match(all)
        .map((u) => (u as { id: string }).id)
        .sort();
      expect([f, (await scim('GET', `/Users${q(f)}`)).body.Resources.map((u: { id: string }) => u.id).sort()]).toEqual([f, theirs]);
    }
  });

  it('pages with startIndex (1-based) and count, saying the total', async () => {
    const all = (await scim('GET', '/Users')).body;
    const page = await scim('GET', '/Users?startIndex=2&count=2');
    expect(page.body).toMatchObject({ totalResults: all.totalResults, startIndex: 2, itemsPerPage: 2 });
    expect(page.body.Resources.map((u: { id: string }) => u.id)).toEqual(all.Resources.slice(1, 3).map((u: { id: string }) => u.id));
    expect((await scim('GET', '/Users?startIndex=0&count=1')).body).toMatchObject({ startIndex: 1, itemsPerPage: 1 });
    expect((await scim('GET', '/Users?count=0')).body).toMatchObject({ itemsPerPage: 0, Resources: [] });
    expect((await scim('GET', '/Users?count=abc')).body.scimType).toBe('invalidValue');
  });

  it("every User and Group it returns is valid for SCIMMY's schema definitions", async () => {
    for (const u of (await scim('GET', '/Users')).body.Resources) expect(() => SCIMMY.Schemas.User.definition.coerce(u)).not.toThrow();
    for (const g of (await scim('GET', '/Groups')).body.Resources) expect(() => SCIMMY.Schemas.Group.definition.coerce(g)).not.toThrow();
  });
});

describe('a SCIM user is the account its sign-in makes, and deprovisioning is immediate', () => {
  let id = '';
  const web = () => oidc.discovery(new URL(issuerOf('forge')), `forge-web.${NS}`, webSecret, undefined, insecure);

  /** Email at Gatehouse, password at Forge's IdP, back through Gatehouse: the client's tokens. */
  async function signInAsLena() {
    const config = await web();
    let s = await startSignIn(config, { scope: 'openid email profile offline_access', prompt: 'consent' });
    s = await submit(s, { email: 'lena@forge.example' });
    if (!s.url.startsWith(peer.url)) throw new Error(`expected Forge's IdP, got ${s.res.status} at ${s.url}: ${await text(s.res)}`);
    s = await submit(s, { email: 'lena@forge.example', password: 'forge-pass' }, `${issuerOf('forge')}/broker/`);
    s = await resume(s, s.url);
    if (!s.url.startsWith(CALLBACK)) return { refused: s, tokens: undefined };
    return { refused: undefined, tokens: await oidc.authorizationCodeGrant(config, new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state }) };
  }
  const active = async (token: string) => (await oidc.tokenIntrospection(await web(), token)).active;

  it('links: the IdP provisions Lena with her subject as externalId, and her sign-in lands on that account', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER, ENTERPRISE], userName: 'lena@forge.example', externalId: '00u-lena', active: true, [ENTERPRISE]: { department: 'Procurement' } });
    id = created.body.id;
    const { tokens: t } = await signInAsLena();
    expect(t!.claims()!.sub).toBe(id);
    expect(t!.claims()!.department).toBe('Procurement');
    expect((await gh.store.users.list(NS)).filter((u) => u.email === 'lena@forge.example')).toHaveLength(1);
  });

  it('groups reach tokens through ClaimMappings (user.groups)', async () => {
    const group = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Gatehouse Admins', members: [{ value: id }] });
    expect(group.status).toBe(201);
    const { tokens: t } = await signInAsLena();
    expect(t!.claims()!.groups).toEqual(['Gatehouse Admins']);
  });

  it('active:false ends her sessions, grants and refresh tokens at once: introspection says inactive, refresh fails, sign-in is refused', async () => {
    const { tokens: t } = await signInAsLena();
    expect(await active(t!.access_token)).toBe(true);
    expect(await active(t!.refresh_token!)).toBe(true);
    const off = await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { active: false } }));
    expect(off.body.active).toBe(false);
    expect(await active(t!.access_token)).toBe(false);
    expect(await active(t!.refresh_token!)).toBe(false);
    await expect(oidc.refreshTokenGrant(await web(), t!.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const { refused } = await signInAsLena();
    expect(await text(refused!.res)).toContain('deactivated');
    const record = (await audit('user.deactivated')).find((r) => r.subject === id)!;
    expect(record).toMatchObject({ actor: 'scim:forge-okta', organization: 'forge', data: { via: 'scim', connection: 'forge-okta', changed: true } });
    expect(record.data.revoked).toBeGreaterThan(0);
  });

  it('a user SCIM deactivated is reactivated by SCIM and signs in again', async () => {
    expect((await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', path: 'active', value: true }))).body.active).toBe(true);
    expect((await signInAsLena()).tokens).toBeDefined();
  });

  it('a user the platform deactivated is not reactivated by SCIM (403), even if SCIM had deactivated it first', async () => {
    await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { active: false } }));
    const platform = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/forge/users/${id}/deactivate`);
    expect(platform.status).toBe(200);
    const res = await scim('PATCH', `/Users/${id}`, patchOf({ op: 'replace', value: { active: true } }));
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/deactivated by the platform/);
    expect((await scim('GET', `/Users/${id}`)).body.active).toBe(false);
    expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/forge/users/${id}/reactivate`)).status).toBe(200);
    expect((await scim('GET', `/Users/${id}`)).body.active).toBe(true);
  });

  it('DELETE erases her: tokens end, the record and its personal data go, the audit keeps only the pseudonymous id', async () => {
    const { tokens: t } = await signInAsLena();
    expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
    expect(await active(t!.access_token)).toBe(false);
    expect(await gh.store.users.find(NS, id)).toBeUndefined();
    expect(await gh.store.scim.user(NS, id)).toBeUndefined();
    const erased = (await audit('user.erased')).find((r) => r.subject === id)!;
    expect(erased).toMatchObject({ actor: 'scim:forge-okta', name: id, data: { via: 'scim', connection: 'forge-okta' } });
    expect(JSON.stringify(erased)).not.toContain('lena');
    expect(id).toMatch(/^fed-[0-9a-f]{24}$/);
    // A later sign-in through the connection is a new just-in-time account, not the erased one revived.
    const again = await signInAsLena();
    expect(again.tokens!.claims()!.sub).toBe(id);
    expect((await gh.store.users.find(NS, id))?.profile.groups).toBeUndefined();
  });

  it('a JIT account made before provisioning is adopted by the SCIM create (same subject), never duplicated', async () => {
    const adopted = await scim('POST', '/Users', { schemas: [USER], userName: 'lena@forge.example', externalId: '00u-lena' });
    expect(adopted.status).toBe(201);
    expect(adopted.body.id).toBe(id);
    expect((await audit('user.provisioned')).find((r) => r.subject === id && r.data.via === 'scim' && r.data.adopted === true)).toBeDefined();
  });
});

describe('runtime user removal through the admin API', () => {
  it('erases a runtime user and refuses a declared one (409)', async () => {
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'erase.me@forge.example', externalId: 'erase-me' });
    const res = await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/forge/users/${created.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: created.body.id, erased: true });
    expect(await gh.store.users.find(NS, created.body.id)).toBeUndefined();
    expect((await scim('GET', `/Users/${created.body.id}`)).status).toBe(404);
    expect((await audit('user.erased')).find((r) => r.subject === created.body.id)).toMatchObject({ actor: expect.stringMatching(/^admin-token:/), data: { via: 'admin' } });
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/cascade/users/${created.body.id}`)).status).toBe(404);
  });
});

describe('partner groups as Gatehouse roles', () => {
  const forge = (groupRoles: object[]) => organization('forge', { displayName: 'Forge Supplies', emailDomains: ['forge.example', 'forge-labs.example'], groupRoles });
  const rolesOf = async (id: string) => (await gh.store.users.find(NS, id))!.roles.sort();
  let id = '';
  let groupId = '';

  beforeAll(async () => {
    await gh.put('organizations', forge([{ group: 'Forge Admins', roles: ['organization-admin', 'auditor'] }]));
    id = (await scim('POST', '/Users', { schemas: [USER], userName: 'rita@forge.example', externalId: 'rita' })).body.id;
    groupId = (await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Forge Admins' })).body.id;
  });

  it("an Organization's groupRoles give its members the group's roles, and take back only those when they leave", async () => {
    expect(await rolesOf(id)).toEqual(['supplier-user']);
    await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'add', path: 'members', value: [{ value: id }] }));
    expect(await rolesOf(id)).toEqual(['auditor', 'organization-admin', 'supplier-user']);
    await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'remove', path: `members[value eq "${id}"]` }));
    expect(await rolesOf(id)).toEqual(['supplier-user']);
  });

  it("the Workspace's guardrails.groupRoles caps what any group can give", async () => {
    await gh.put('workspaces', workspace({ guardrails: { groupRoles: ['auditor', 'user-manager'] } }));
    await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'add', path: 'members', value: [{ value: id }] }));
    expect(await rolesOf(id)).toEqual(['auditor', 'supplier-user']);
    await gh.put('workspaces', workspace());
  });

  it('a group that is renamed or deleted gives nothing any more', async () => {
    await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'replace', path: 'displayName', value: 'Former Admins' }));
    expect(await rolesOf(id)).toEqual(['supplier-user']);
    await scim('PATCH', `/Groups/${groupId}`, patchOf({ op: 'replace', path: 'displayName', value: 'Forge Admins' }));
    expect(await rolesOf(id)).toEqual(['auditor', 'organization-admin', 'supplier-user']);
    await scim('DELETE', `/Groups/${groupId}`);
    expect(await rolesOf(id)).toEqual(['supplier-user']);
  });
});

describe('status and metrics', () => {
  it("the IdPConnection's status shows when its token was issued, its IdP's last request, and how many failed", async () => {
    const before = (await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/forge-okta`)).body.status.scim;
    expect(before).toMatchObject({ tokenIssuedAt: expect.any(String), lastRequestAt: expect.any(String), requests: expect.any(Number), errors: expect.any(Number) });
    await scim('GET', '/Users/nobody');
    const after = (await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/forge-okta`)).body.status.scim;
    expect(after).toMatchObject({ lastStatus: 404, requests: before.requests + 1, errors: before.errors + 1 });
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/forge-plain`)).body.status?.scim).toBeUndefined();
  });

  it('counts SCIM requests by organization and outcome', async () => {
    const text = (await metrics.exposition()).body;
    expect(text).toMatch(/gatehouse_scim_requests_total\{namespace="blixit-partners",organization="forge",outcome="succeeded"\} [1-9]/);
    expect(text).toMatch(/gatehouse_scim_requests_total\{namespace="blixit-partners",organization="forge",outcome="unauthorized"\} [1-9]/);
    expect(text).toMatch(/gatehouse_scim_requests_total\{namespace="blixit-partners",organization="forge",outcome="rejected"\} [1-9]/);
  });
});

describe('an organization that stands no more', () => {
  it("is provisioned no more: a suspended organization's endpoint answers 403 as a SCIM error", async () => {
    await gh.put('organizations', organization('forge', { displayName: 'Forge Supplies', emailDomains: ['forge.example', 'forge-labs.example'], suspended: true }));
    const res = await scim('GET', '/Users');
    expect(res.status).toBe(403);
    expect(res.type).toContain('application/scim+json');
    expect(res.body).toMatchObject({ schemas: [ERROR], status: '403' });
    expect((await audit('scim.refused')).map((r) => r.data.reason)).toContain('suspended');
  });
});

describe('a failure nobody expected', () => {
  it('is answered as a SCIM 500 (the IdP retries), saying nothing of the cause', async () => {
    const token = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/idpconnections/cascade-okta/scim-token`)).body.token;
    await gh.store.driver.run('DROP TABLE scim_groups');
    const res = await scim('GET', '/Groups', undefined, { org: 'cascade', token });
    expect(res.status).toBe(500);
    expect(res.type).toContain('application/scim+json');
    expect(res.body).toEqual({ schemas: [ERROR], status: '500', detail: expect.stringContaining('logged') });
    expect(JSON.stringify(res.body)).not.toMatch(/scim_groups|SQL/i);
  });
});
