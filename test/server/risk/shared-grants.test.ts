// Adaptive access at a namespace's shared issuer: a user's grant through a workspace client
// (code, refresh) is judged by the policy of the user's own organization, with the client's
// addresses kept apart per organization; one organization's denial or suspendClient threshold
// refuses its own user's grant and never pauses the client for the users of the others.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { Metrics } from '../../../server/observability/metrics.ts';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, setPassword, signInAt } from '../../support/sign-in.ts';

const PASSWORD = 'a long enough password';
let gh: TestServer;
let secret: string;
let agentSecret: string;
let metrics: Metrics;
const ORDERS = 'https://orders.example';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Policies refusing a grant from an address the client never used for this organization's users: by deny, and by suspendClient. */
const denying = { risk: { rules: { newClientAddress: { weight: 50 } }, thresholds: { deny: 50 } } };
const suspending = { risk: { rules: { newClientAddress: { weight: 50 } }, thresholds: { suspendClient: 50 } } };

/** Every request (the browser's and the relying party's) as from `ip`, through the trusted proxy. */
const via =
  (ip: string): oidc.CustomFetch =>
  (url, init) => {
    const headers = new Headers(init.headers as HeadersInit);
    headers.set('x-forwarded-for', ip);
    return fetch(url, { ...(init as RequestInit), headers });
  };

const sharedAt = (ip: string) => oidc.discovery(new URL(`${gh.url}/${NS}`), `portal.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: via(ip) });

/** A user's sign-in at the shared issuer through the portal, every step from `ip`. */
const signIn = (name: string, org: string, ip: string) => signInAt(`${gh.url}/${NS}`, 'portal', secret, { email: `${name}@${org}.example`, password: PASSWORD }, 'openid email offline_access', { prompt: 'consent' }, via(ip));

/** A refresh at the shared issuer from `ip`: its status, error and the new tokens. */
async function refresh(refreshToken: string, ip: string): Promise<{ status: number; error?: string; description?: string; refreshToken?: string }> {
  try {
    const t = await oidc.refreshTokenGrant(await sharedAt(ip), refreshToken);
    return { status: 200, refreshToken: t.refresh_token ?? refreshToken };
  } catch (error) {
    const e = error as { status?: number; error?: string; error_description?: string };
    return { status: e.status ?? 0, error: e.error!, description: e.error_description! };
  }
}

type Record_ = { action: string; organization: string | null; client: string; outcome?: string; data: Record<string, any> };
const audit = async (query: string) => (await gh.admin('GET', `/admin/v1/audit?${query}`)).body.items as Record_[];
/** The risk engine's decisions on tokens (sign-ins are scored too, and audited as such). */
const tokenDecisions = async () => (await audit('action=risk.*')).filter((r) => r.data.stage === 'token');

beforeAll(async () => {
  metrics = new Metrics({ processMetrics: false });
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'], metrics });
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade', denying));
  await gh.put('organizations', organization('north', suspending));
  await gh.put('organizations', organization('forge'));
  for (const org of ['cascade', 'north', 'forge']) await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
  await gh.put('clients', client('portal', undefined, { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'offline_access'] }));
  await gh.put('users', user('ana', 'cascade'));
  await gh.put('users', user('nina', 'north'));
  await gh.put('users', user('fred', 'forge'));
  // A workspace machine client: its own tokens have no organization; it exchanges the portal's users' tokens.
  await gh.put('clients', client('agent', undefined, { type: 'm2m', redirectUris: undefined, scopes: ['orders:read'], audiences: [ORDERS], tokenExchange: { enabled: true, subjectClients: [{ name: 'portal' }] } }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/portal/secret`)).body.clientSecret;
  agentSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/agent/secret`)).body.clientSecret;
  for (const name of ['ana', 'nina', 'fred']) await setPassword(gh, name, PASSWORD);
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe("the shared issuer scores a user's grant with the user's organization's risk policy", () => {
  let ana: string;
  let nina: string;

  it('lets a grant from the address the client first saw for the organization through, unscored and unaudited', async () => {
    ana = (await signIn('ana', 'cascade', '193.0.0.1')).refresh_token!;
    const again = await refresh(ana, '193.0.0.1');
    expect(again.status).toBe(200);
    ana = again.refreshToken!;
    expect(await tokenDecisions()).toEqual([]);
  });

  it("refuses a refresh from a new address with invalid_grant, naming the user's organization in the audit", async () => {
    const refused = await refresh(ana, '198.51.100.23');
    expect(refused).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(refused.description).toMatch(/^refused by the risk policy of /);
    const [decision] = await audit('action=risk.denied');
    expect(decision).toMatchObject({ organization: 'cascade', client: `portal.${NS}`, outcome: 'refused', data: { stage: 'token', grant: 'refresh_token', action: 'deny', score: 50, issuer: `/${NS}`, rules: [{ rule: 'newClientAddress', weight: 50 }] } });
    expect(decision!.data.rules[0].reason).toBe('198.51.100.23 was never seen for this client');
    expect((await audit('action=token.refused'))[0]).toMatchObject({ organization: 'cascade', client: `portal.${NS}`, subject: 'ana', data: { grant: 'refresh_token', error: 'invalid_grant' } });
  });

  it('leaves a user of an organization without a policy unaffected, from any address, in the same run', async () => {
    let fred = (await signIn('fred', 'forge', '203.0.113.9')).refresh_token!;
    for (const ip of ['198.51.100.23', '192.0.2.77']) {
      const r = await refresh(fred, ip);
      expect(r.status).toBe(200);
      fred = r.refreshToken!;
    }
    expect((await tokenDecisions()).filter((r) => r.organization !== 'cascade')).toEqual([]);
  });

  it("does not count the addresses learned for one organization's users for another's", async () => {
    nina = (await signIn('nina', 'north', '203.0.113.50')).refresh_token!;
    // 193.0.0.1 is known for cascade's users of the portal, never for north's.
    const refused = await refresh(nina, '193.0.0.1');
    expect(refused).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect((await audit('action=risk.denied'))[0]).toMatchObject({ organization: 'north', data: { rules: [{ rule: 'newClientAddress' }] } });
    // And north's own address does not open cascade's: ana, signed in again, is refused from it.
    const again = (await signIn('ana', 'cascade', '193.0.0.1')).refresh_token!;
    expect(await refresh(again, '203.0.113.50')).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect((await audit('action=risk.denied'))[0]).toMatchObject({ organization: 'cascade' });
  });

  it("answers an organization's suspendClient threshold as a denial: the workspace client stays usable for the others", async () => {
    // north declares only suspendClient: its user's grant over it was denied above, and nothing was paused.
    const [decision] = (await audit('action=risk.denied')).filter((r) => r.organization === 'north');
    expect(decision).toMatchObject({ outcome: 'refused', data: { grant: 'refresh_token', action: 'deny', score: 50 } });
    expect(await audit('action=client.suspended')).toEqual([]);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/clients/portal`)).body.status?.suspension).toBeUndefined();
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/north`)).body.status?.suspendedClients).toBeUndefined();
    const fred = (await signIn('fred', 'forge', '203.0.113.9')).refresh_token!;
    expect(await refresh(fred, '192.0.2.78')).toMatchObject({ status: 200 });
    expect(await refresh((await signIn('ana', 'cascade', '193.0.0.1')).refresh_token!, '193.0.0.1')).toMatchObject({ status: 200 });
  });

  it('keeps the per-organization addresses in the store: another replica judges alike', async () => {
    const replica = await startTestServer({ dataDir: gh.dataDir, trustedProxies: ['127.0.0.1/32'] });
    // A refresh token presented in a denied grant is spent: ana signs in again.
    ana = (await signIn('ana', 'cascade', '193.0.0.1')).refresh_token!;
    try {
      const config = await oidc.discovery(new URL(`${replica.url}/${NS}`), `portal.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: via('193.0.0.1') });
      expect((await oidc.refreshTokenGrant(config, ana)).access_token).toBeTruthy();
      const elsewhere = await oidc.discovery(new URL(`${replica.url}/${NS}`), `portal.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: via('203.0.113.50') });
      const fresh = (await signIn('ana', 'cascade', '193.0.0.1')).refresh_token!;
      await expect(oidc.refreshTokenGrant(elsewhere, fresh)).rejects.toMatchObject({ status: 400, error: 'invalid_grant' });
    } finally {
      await replica.close();
    }
  });

  it("scores the exchange of a user's token by the user's organization, and leaves the machine's own tokens unscored", async () => {
    const agentAt = (ip: string) => oidc.discovery(new URL(`${gh.url}/${NS}`), `agent.${NS}`, agentSecret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: via(ip) });
    const subject = (await signIn('ana', 'cascade', '193.0.0.1')).access_token;
    const exchange = async (ip: string) => oidc.genericGrantRequest(await agentAt(ip), EXCHANGE, { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: ORDERS });
    expect((await exchange('193.0.0.1')).access_token).toBeTruthy();
    await expect(exchange('198.51.100.60')).rejects.toMatchObject({ status: 400, error: 'invalid_grant' });
    expect((await audit('action=risk.denied'))[0]).toMatchObject({ organization: 'cascade', client: `agent.${NS}`, data: { grant: EXCHANGE, action: 'deny', rules: [{ rule: 'newClientAddress' }] } });
    const before = (await tokenDecisions()).length;
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) expect((await oidc.clientCredentialsGrant(await agentAt(ip), { resource: ORDERS })).access_token).toBeTruthy();
    expect((await tokenDecisions()).length).toBe(before);
  });

  it("counts the decisions in the metrics under the user's organization", async () => {
    // Three refusals of cascade's users here (the replica counts its own), one of north's; the refusals count as refused tokens of theirs.
    const { body } = await metrics.exposition();
    expect(body).toContain(`gatehouse_risk_decisions_total{namespace="${NS}",organization="cascade",action="deny"} 3`);
    expect(body).toContain(`gatehouse_risk_decisions_total{namespace="${NS}",organization="north",action="deny"} 1`);
    expect(body).toContain(`gatehouse_risk_rules_fired_total{namespace="${NS}",organization="north",rule="newClientAddress"} 1`);
    expect(body).toContain(`gatehouse_tokens_refused_total{namespace="${NS}",organization="cascade",grant_type="refresh_token"} 2`);
    expect(body).not.toContain('organization="forge",action="deny"');
    expect(body).not.toContain('gatehouse_risk_client_suspensions_total{');
  });
});
