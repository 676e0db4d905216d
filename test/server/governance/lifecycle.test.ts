import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { remaining } from '../../../server/governance/lifecycle.ts';

/*
 * Lifecycle and governance (issue #7): a partnership stops the moment its contract ends or
 * it is suspended, at every endpoint and with no restart; contract owners are warned once;
 * certification falls due. One server for the file; the injected clock is moved forward
 * from describe to describe (never back), each block setting the time it is about.
 *
 * oidc-provider stamps JWTs with the machine's time while Gatehouse judges them with the
 * injected clock, so every step that must keep a live access token live is smaller than
 * the access-token lifetime (1h), and a sibling organization's token is the control.
 */

let gh: TestServer;
const PASSWORD = 'correct horse battery staple';
const INVENTORY = 'https://inventory.example';
const insecure = { execute: [oidc.allowInsecureRequests] };
const secrets: Record<string, string> = {};
const base = `/admin/v1/namespaces/${NS}`;
const contract = (id: string, endsAt: string, extra: object = {}) => ({ id, partnerType: 'supplier', owner: 'owner@blixit.example', endsAt, ...extra });

/** An organization with its own directory, a web client (offline access), an m2m client and one user `{name}-staff`. */
async function partner(name: string, spec: object = {}, domain = `${name}.example`) {
  await gh.put('organizations', organization(name, { emailDomains: [domain], ...spec }));
  await gh.put('idpconnections', idp(`${name}-directory`, name, { type: 'directory', oidc: undefined }));
  await gh.put('clients', client(`${name}-web`, name, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  await gh.put('clients', client(`${name}-sync`, name, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
  await gh.put('accesspolicies', accessPolicy(`${name}-inventory`, name, { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('users', user(`${name}-staff`, name, { email: `staff@${domain}` }));
  for (const c of [`${name}-web`, `${name}-sync`]) secrets[c] = (await gh.admin('POST', `${base}/clients/${c}/secret`)).body.clientSecret;
  await setPassword(gh, `${name}-staff`, PASSWORD);
}

const issuerOf = (org?: string) => `${gh.url}/${NS}${org ? `/${org}` : ''}`;
const configs = new Map<string, Promise<oidc.Configuration>>();
/** openid-client as the relying party, discovered once per (issuer, client). */
function rp(org: string | undefined, clientName: string): Promise<oidc.Configuration> {
  const key = `${org ?? ''}|${clientName}`;
  if (!configs.has(key)) configs.set(key, oidc.discovery(new URL(issuerOf(org)), `${clientName}.${NS}`, secrets[clientName], undefined, insecure));
  return configs.get(key)!;
}
const m2m = async (org: string) => (await oidc.clientCredentialsGrant(await rp(org, `${org}-sync`), { scope: 'inventory:read' })).access_token;
const active = async (org: string, token: string) => (await oidc.tokenIntrospection(await rp(org, `${org}-sync`), token)).active;
const refresh = async (org: string | undefined, clientName: string, token: string) => oidc.refreshTokenGrant(await rp(org, clientName), token);
const staffSignIn = (org: string, domain = `${org}.example`) => signIn(gh, org, `${org}-web`, secrets[`${org}-web`]!, { email: `staff@${domain}`, password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' });

async function status(org: string) {
  const res = await gh.admin('GET', `${base}/organizations/${org}`);
  expect(res.status).toBe(200);
  const conditions: { type: string; status: string; reason: string; message: string }[] = res.body.status.conditions;
  return Object.fromEntries(conditions.map((c) => [c.type, c]));
}

async function audit(action: string, org: string) {
  return (await gh.admin('GET', `/admin/v1/audit?action=${action}&organization=${org}&limit=100`)).body.items as any[];
}

/** The authorization endpoint as a browser reaches it: the status and page of the first response. */
async function authorize(org: string) {
  const url = oidc.buildAuthorizationUrl(await rp(org, `${org}-web`), { redirect_uri: CALLBACK, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: oidc.randomState() });
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, text: await res.text() };
}

/** The shared-application issuer's email-first page for an address given as login_hint. */
async function emailFirst(email: string) {
  const url = oidc.buildAuthorizationUrl(await rp(undefined, 'portal'), { redirect_uri: CALLBACK, scope: 'openid email', login_hint: email, code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: oidc.randomState() });
  const { res } = await new Browser().follow(url.href, CALLBACK);
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
  await gh.put('workspaces', workspace({ tokens: { accessToken: '1h', refreshToken: '8h' }, lifecycle: { contractWarning: '14d', reviewPeriod: '90d' } }));
  await partner('forge'); // the control: a partner in good standing through every block
  await partner('harbor', { contract: contract('BLX-HARBOR', '2026-11-23T09:10:00Z') });
  await partner('delta');
  await partner('delta-north', { parentRef: { name: 'delta' } }, 'north.delta.example');
  await partner('echo');
  await partner('pier', { contract: contract('BLX-PIER', '2026-12-20T00:00:00Z') });
  await partner('atlas', { contract: contract('BLX-ATLAS', '2027-06-30T00:00:00Z', { certifiedAt: '2026-09-01T00:00:00Z' }) });
  await partner('cobalt', { contract: contract('BLX-COBALT', '2027-06-30T00:00:00Z', { certifiedAt: '2026-12-15T00:00:00Z' }) });
  await gh.put('organizations', organization('nocontract', { contract: undefined }));
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  secrets.portal = (await gh.admin('POST', `${base}/clients/portal/secret`)).body.clientSecret;
});
afterAll(async () => {
  await gh.close();
});

describe('a contract that ends stops the partner at its end, with no restart', () => {
  let harborJwt: string;
  let forgeJwt: string;
  let harborRefresh: string;
  let forgeRefresh: string;
  let harborAccess: string;

  beforeAll(() => gh.clock.set('2026-11-23T09:00:00Z'));

  it('before the end every grant works: client credentials, introspection, sign-in, refresh', async () => {
    harborJwt = await m2m('harbor');
    forgeJwt = await m2m('forge');
    expect(await active('harbor', harborJwt)).toBe(true);
    const signedIn = await staffSignIn('harbor');
    expect(signedIn.claims()).toMatchObject({ sub: 'harbor-staff', organization_id: 'harbor' });
    const rotated = await refresh('harbor', 'harbor-web', signedIn.refresh_token!);
    harborRefresh = rotated.refresh_token!;
    harborAccess = rotated.access_token;
    forgeRefresh = (await staffSignIn('forge')).refresh_token!;
    expect(harborRefresh).toBeDefined();
  });

  it('one second past contract.endsAt the token endpoint refuses every grant, and only for that partner', async () => {
    gh.clock.set('2026-11-23T09:10:01Z');
    await expect(oidc.clientCredentialsGrant(await rp('harbor', 'harbor-sync'), { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('ended at 2026-11-23T09:10:00Z') });
    await expect(refresh('harbor', 'harbor-web', harborRefresh)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The control, at the same instant.
    expect(await m2m('forge')).toBeDefined();
    forgeRefresh = (await refresh('forge', 'forge-web', forgeRefresh)).refresh_token!;
    const refused = await audit('token.refused', 'harbor');
    expect(refused.map((r) => r.data.reason)).toEqual(['contract-ended', 'contract-ended']);
  });

  it('introspection of tokens issued before the end answers active:false (a token of the same age elsewhere is still active)', async () => {
    expect(await active('harbor', harborJwt)).toBe(false);
    expect((await oidc.tokenIntrospection(await rp('harbor', 'harbor-web'), harborRefresh)).active).toBe(false);
    expect(await active('forge', forgeJwt)).toBe(true);
    await expect(oidc.fetchUserInfo(await rp('harbor', 'harbor-web'), harborAccess, 'harbor-staff')).rejects.toMatchObject({ status: 401 });
  });

  it('sign-in is refused with a page that says why, and audited', async () => {
    const page = await authorize('harbor');
    expect(page.status).toBe(403);
    expect(page.text).toContain('ended at 2026-11-23T09:10:00Z');
    expect((await audit('login.refused', 'harbor'))[0]).toMatchObject({ outcome: 'refused', data: { reason: 'contract-ended' } });
    expect((await authorize('forge')).status).not.toBe(403);
    // The partner's users cannot come in through the shared-application issuer either.
    await expect(signIn(gh, undefined, 'portal', secrets.portal!, { email: 'staff@harbor.example', password: PASSWORD })).rejects.toThrow('sign-in refused: 401');
  });

  it('the status says so', async () => {
    const conditions = await status('harbor');
    expect(conditions.Active).toMatchObject({ status: 'False', reason: 'ContractEnded' });
    expect(conditions.ContractEnding).toMatchObject({ status: 'False', reason: 'Ended' });
    expect((await status('forge')).Active).toMatchObject({ status: 'True' });
  });

  it('extending the contract (PUT with a new endsAt) restores the partner at once, with new grants only', async () => {
    await gh.put('organizations', organization('harbor', { contract: contract('BLX-HARBOR', '2027-06-30T00:00:00Z') }));
    expect(await m2m('harbor')).toBeDefined();
    // No token outlives what granted it: those of the ended contract ended with it, in the extension's transaction.
    expect(await active('harbor', harborJwt)).toBe(false);
    await expect(refresh('harbor', 'harbor-web', harborRefresh)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await audit('Organization.tokens-ended', 'harbor'))[0]).toMatchObject({ actor: 'admin-token:bootstrap', data: { reason: 'contract-ended', revoked: expect.any(Number) } });
    const signedIn = await staffSignIn('harbor');
    expect((await refresh('harbor', 'harbor-web', signedIn.refresh_token!)).access_token).toBeDefined();
    expect((await status('harbor')).Active).toMatchObject({ status: 'True' });
  });
});

describe('the kill switch: suspending an organization cuts it and its sub-organizations off', () => {
  const refreshTokens: Record<string, string> = {};
  const jwts: Record<string, string> = {};
  let sharedRefresh: string;
  const orgs = ['delta', 'delta-north', 'echo'] as const;
  const domainOf = (org: string) => (org === 'delta-north' ? 'north.delta.example' : `${org}.example`);

  beforeAll(async () => {
    gh.clock.set('2026-11-23T09:20:00Z');
    for (const org of orgs) {
      refreshTokens[org] = (await staffSignIn(org, domainOf(org))).refresh_token!;
      jwts[org] = await m2m(org);
      expect(await active(org, jwts[org]!)).toBe(true);
    }
    // The sub-organization's user holds a grant at the shared-application issuer too.
    sharedRefresh = (await signIn(gh, undefined, 'portal', secrets.portal!, { email: 'staff@north.delta.example', password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' })).refresh_token!;
  });

  it('suspending the parent (PUT spec.suspended: true) is audited as Organization.kill-switch, naming the actor and both organizations', async () => {
    const before = (await audit('Organization.kill-switch', 'delta')).length;
    await gh.put('organizations', organization('delta', { suspended: true }));
    const records = await audit('Organization.kill-switch', 'delta');
    expect(records).toHaveLength(before + 1);
    expect(records[0]).toMatchObject({ actor: 'admin-token:bootstrap', kind: 'Organization', name: 'delta', data: { organizations: ['delta', 'delta-north'] } });
    expect(records[0].data.revoked).toBeGreaterThan(0);
    // Applying the same suspended declaration again pulls nothing twice.
    await gh.put('organizations', organization('delta', { suspended: true }));
    expect(await audit('Organization.kill-switch', 'delta')).toHaveLength(before + 1);
  });

  it('refresh tokens of the parent and the sub-organization fail with invalid_grant; their tokens introspect inactive', async () => {
    for (const org of ['delta', 'delta-north']) {
      await expect(refresh(org, `${org}-web`, refreshTokens[org]!)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect(await active(org, jwts[org]!)).toBe(false);
    }
    await expect(refresh(undefined, 'portal', sharedRefresh)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('client credentials are refused at both issuers, and sign-in at both', async () => {
    for (const org of ['delta', 'delta-north']) {
      await expect(oidc.clientCredentialsGrant(await rp(org, `${org}-sync`), { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
      expect((await authorize(org)).status).toBe(403);
    }
    expect((await status('delta-north')).Active).toMatchObject({ status: 'False', reason: 'ParentInactive' });
  });

  it('a sibling organization is untouched', async () => {
    expect(await active('echo', jwts.echo!)).toBe(true);
    refreshTokens.echo = (await refresh('echo', 'echo-web', refreshTokens.echo!)).refresh_token!;
    expect(await m2m('echo')).toBeDefined();
    expect(JSON.stringify((await audit('Organization.kill-switch', 'delta'))[0].data.organizations)).not.toContain('echo');
  });

  it('un-suspending does not bring the old refresh or access tokens back; new grants work again', async () => {
    await gh.put('organizations', organization('delta', { suspended: false }));
    for (const org of ['delta', 'delta-north']) {
      await expect(refresh(org, `${org}-web`, refreshTokens[org]!)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect((await oidc.tokenIntrospection(await rp(org, `${org}-web`), refreshTokens[org]!)).active).toBe(false);
      // A client-credentials JWT is bound to no grant; the issuer's cutoff keeps it dead too.
      expect(await active(org, jwts[org]!)).toBe(false);
      expect(await m2m(org)).toBeDefined();
      const fresh = await staffSignIn(org, domainOf(org));
      expect((await refresh(org, `${org}-web`, fresh.refresh_token!)).access_token).toBeDefined();
    }
    await expect(refresh(undefined, 'portal', sharedRefresh)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await status('delta-north')).Active).toMatchObject({ status: 'True' });
  });
});

describe('contract warnings: the owner hears once per window, and once when it ended', () => {
  const notices = async (action: string) => audit(action, 'pier');
  const forPier = (emitted: { organization: string; action: string }[]) => emitted.filter((n) => n.organization === 'pier').map((n) => n.action);

  it('before the window: ContractEnding=False (NotYet) and no notice', async () => {
    gh.clock.set('2026-12-01T00:00:00Z');
    expect((await status('pier')).ContractEnding).toMatchObject({ status: 'False', reason: 'NotYet', message: expect.stringContaining('2026-12-06T00:00:00.000Z') });
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual([]);
    expect(await notices('Organization.contract-ending')).toEqual([]);
  });

  it('inside the Workspace contractWarning window: the status shows ContractEnding=True, and the partner still works', async () => {
    gh.clock.set('2026-12-06T00:00:00Z');
    const conditions = await status('pier');
    expect(conditions.ContractEnding).toMatchObject({ status: 'True', reason: 'WithinWarningWindow', message: expect.stringContaining('in 14 days') });
    expect(conditions.Active).toMatchObject({ status: 'True' });
    expect(await m2m('pier')).toBeDefined();
  });

  it('the LifecycleMonitor emits exactly one audit event per organization per window, however often it runs', async () => {
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual(['Organization.contract-ending']);
    gh.clock.set('2026-12-10T00:00:00Z');
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual([]);
    const records = await notices('Organization.contract-ending');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ actor: 'gatehouse:lifecycle', organization: 'pier', data: { contract: 'BLX-PIER', endsAt: '2026-12-20T00:00:00Z', owner: 'owner@blixit.example', daysLeft: 14, remaining: 'in 14 days' } });
    // Organizations outside their window are not warned.
    expect(await audit('Organization.contract-ending', 'forge')).toEqual([]);
  });

  it('after the end: one contract-ended event, and the partner is stopped', async () => {
    gh.clock.set('2026-12-20T00:00:01Z');
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual(['Organization.contract-ended']);
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual([]);
    expect(await notices('Organization.contract-ended')).toHaveLength(1);
    expect(await notices('Organization.contract-ending')).toHaveLength(1);
    expect((await status('pier')).Active).toMatchObject({ status: 'False', reason: 'ContractEnded' });
    await expect(oidc.clientCredentialsGrant(await rp('pier', 'pier-sync'), { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('an extension that lands inside the window warns again, for the new end', async () => {
    await gh.put('organizations', organization('pier', { contract: contract('BLX-PIER', '2027-01-01T00:00:00Z') }));
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual(['Organization.contract-ending']);
    expect((await notices('Organization.contract-ending')).map((r) => r.data.endsAt)).toEqual(['2027-01-01T00:00:00Z', '2026-12-20T00:00:00Z']);
  });

  it('says the real time left, in the status and in the audit: "in 6 minutes", not "in 1 days"', async () => {
    await gh.put('organizations', organization('pier', { contract: contract('BLX-PIER', '2027-02-01T00:00:00Z') }));
    gh.clock.set('2027-01-31T23:54:00Z');
    expect((await status('pier')).ContractEnding).toMatchObject({ status: 'True', message: expect.stringContaining('(in 6 minutes)') });
    expect(forPier(await gh.gatehouse.lifecycle.tick())).toEqual(['Organization.contract-ending']);
    expect((await notices('Organization.contract-ending'))[0]).toMatchObject({ data: { endsAt: '2027-02-01T00:00:00Z', remaining: 'in 6 minutes' } });
    gh.clock.set('2027-01-29T00:00:00Z');
    expect((await status('pier')).ContractEnding).toMatchObject({ message: expect.stringContaining('(in 3 days)') });
  });

  it.each([
    [45_000, 'in 45 seconds'],
    [60_000, 'in 60 seconds'],
    [6 * 60_000 + 59_000, 'in 6 minutes'],
    [90 * 60_000, 'in 90 minutes'],
    [5 * 3600_000, 'in 5 hours'],
    [36 * 3600_000, 'in 36 hours'],
    [86400_000 * 3 + 3600_000, 'in 3 days'],
    [86400_000 * 400, 'in 400 days'],
  ])('remaining(%d ms) is "%s"', (ms, text) => {
    expect(remaining(ms)).toBe(text);
  });
});

describe('certification: a Workspace review period, optionally enforced', () => {
  // Review period 90d. atlas was last certified 2026-09-01 (due 2026-11-30); cobalt 2026-12-15.
  const setEnforcement = (suspendWhenCertificationOverdue: boolean) => gh.put('workspaces', workspace({ tokens: { accessToken: '1h', refreshToken: '8h' }, lifecycle: { contractWarning: '14d', reviewPeriod: '90d', suspendWhenCertificationOverdue } }));
  let atlasShared: string;

  beforeAll(() => gh.clock.set('2026-12-21T00:00:00Z'));

  it('overdue shows as CertificationCurrent=False; without enforcement it only flags', async () => {
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'False', reason: 'Overdue', message: expect.stringContaining('2026-11-30T00:00:00.000Z') });
    expect((await status('cobalt')).CertificationCurrent).toMatchObject({ status: 'True', reason: 'Certified' });
    expect((await status('atlas')).Active).toMatchObject({ status: 'True' });
    expect(await m2m('atlas')).toBeDefined();
    atlasShared = (await signIn(gh, undefined, 'portal', secrets.portal!, { email: 'staff@atlas.example', password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' })).refresh_token!;
    // However often the monitor runs past the due date (it also ran in the blocks above), it notices once.
    await gh.gatehouse.lifecycle.tick();
    await gh.gatehouse.lifecycle.tick();
    const overdue = await audit('Organization.certification-overdue', 'atlas');
    expect(overdue).toHaveLength(1);
    expect(overdue[0]).toMatchObject({ actor: 'gatehouse:lifecycle', data: { dueAt: '2026-11-30T00:00:00.000Z', certifiedAt: '2026-09-01T00:00:00Z', owner: 'owner@blixit.example', suspends: false } });
    expect(await audit('Organization.certification-overdue', 'cobalt')).toEqual([]);
  });

  it('with suspendWhenCertificationOverdue the overdue organization stops at every issuer; the certified one does not', async () => {
    await setEnforcement(true);
    expect((await status('atlas')).Active).toMatchObject({ status: 'False', reason: 'CertificationOverdue' });
    await expect(oidc.clientCredentialsGrant(await rp('atlas', 'atlas-sync'), { scope: 'inventory:read' })).rejects.toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('certification') });
    expect((await authorize('atlas')).status).toBe(403);
    // The shared-application issuer judges the user's organization by the same rule.
    await expect(signIn(gh, undefined, 'portal', secrets.portal!, { email: 'staff@atlas.example', password: PASSWORD })).rejects.toThrow('sign-in refused: 401');
    await expect(refresh(undefined, 'portal', atlasShared)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Email-first (the broker routes by the address before any password is asked).
    const hinted = await emailFirst('staff@atlas.example');
    expect(hinted.status).toBe(403);
    expect(hinted.text).toContain('certification of organization atlas was due');
    expect((await emailFirst('staff@cobalt.example')).status).toBe(200);
    expect(await m2m('cobalt')).toBeDefined();
  });

  it('POST …/certify as a workspace administrator records certifiedAt, is audited, and restores the organization', async () => {
    const res = await gh.admin('POST', `${base}/organizations/atlas/certify`, { note: 'Q4 review with procurement' });
    expect(res.status).toBe(200);
    // Runtime state beside the declaration, which stays as git has it.
    expect(res.body.status.certification).toEqual({ certifiedAt: '2026-12-21T00:00:00.000Z', by: 'admin-token:bootstrap', via: 'admin-api' });
    expect(res.body.spec.contract.certifiedAt).toBe('2026-09-01T00:00:00Z');
    const certified = await audit('Organization.certified', 'atlas');
    expect(certified).toHaveLength(1);
    expect(certified[0]).toMatchObject({ actor: 'admin-token:bootstrap', data: { certifiedAt: '2026-12-21T00:00:00.000Z', contract: 'BLX-ATLAS', note: 'Q4 review with procurement' } });
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'True', message: expect.stringContaining('2027-03-21T00:00:00.000Z') });
    expect(await m2m('atlas')).toBeDefined();
    expect((await signIn(gh, undefined, 'portal', secrets.portal!, { email: 'staff@atlas.example', password: PASSWORD })).id_token).toBeDefined();
  });

  it('survives the declaration being put back as git has it (a reconciler correcting drift)', async () => {
    await gh.put('organizations', organization('atlas', { displayName: 'Atlas (reviewed Q4)', contract: contract('BLX-ATLAS', '2027-06-30T00:00:00Z', { certifiedAt: '2026-09-01T00:00:00Z' }) }));
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'True', message: expect.stringContaining('2027-03-21T00:00:00.000Z') });
    expect(await m2m('atlas')).toBeDefined();
  });

  it('a later certifiedAt committed to git counts over an earlier one made through the API', async () => {
    await gh.put('organizations', organization('atlas', { contract: contract('BLX-ATLAS', '2027-06-30T00:00:00Z', { certifiedAt: '2027-01-10T00:00:00Z' }) }));
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'True', message: expect.stringContaining('2027-04-10T00:00:00.000Z') });
    // And the API certification is later than an earlier committed one: the later of the two counts.
    gh.clock.set('2027-04-11T00:00:00Z');
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'False', reason: 'Overdue' });
    await gh.admin('POST', `${base}/organizations/atlas/certify`);
    expect((await status('atlas')).CertificationCurrent).toMatchObject({ status: 'True', message: expect.stringContaining('2027-07-10T00:00:00.000Z') });
  });

  it('refuses to certify an organization without a contract, or one that does not exist', async () => {
    const none = await gh.admin('POST', `${base}/organizations/nocontract/certify`);
    expect(none.status).toBe(409);
    expect(none.body.detail).toContain('declare spec.contract');
    expect((await gh.admin('POST', `${base}/organizations/nobody/certify`)).status).toBe(404);
    expect(await audit('Organization.certified', 'nocontract')).toEqual([]);
  });

  it("deleted and declared again under its name, an organization starts uncertified and without its partner administrators' MFA tightening", async () => {
    const declared = organization('omega', { contract: contract('BLX-OMEGA', '2027-06-30T00:00:00Z') });
    await gh.put('organizations', declared);
    expect((await gh.admin('POST', `${base}/organizations/omega/certify`)).status).toBe(200);
    expect((await gh.admin('PUT', `${base}/organizations/omega/mfa`, { required: true })).status).toBe(200);
    expect((await gh.admin('GET', `${base}/organizations/omega/effective`)).body.mfaRequired).toMatchObject({ value: true, source: 'partner' });

    expect((await gh.admin('DELETE', `${base}/organizations/omega`)).status).toBe(200);
    expect((await audit('Organization.deleted', 'omega'))[0]).toMatchObject({ data: { governanceForgotten: 2 } });
    expect((await gh.store.governance.certifications(NS)).has('omega')).toBe(false);
    expect((await gh.store.governance.mfaTightenings(NS)).has('omega')).toBe(false);

    await gh.put('organizations', declared);
    expect((await gh.admin('GET', `${base}/organizations/omega`)).body.status.certification).toBeUndefined();
    expect((await gh.admin('GET', `${base}/organizations/omega/effective`)).body.mfaRequired).not.toMatchObject({ source: 'partner' });
  });

  afterAll(() => setEnforcement(false));
});
