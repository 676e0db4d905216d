// Risk decisions are visible: GET …/organizations/{org}/risk summarises them (a partner
// administrator reads only its own organization's), metrics count them by organization and
// rule, and the OCSF export carries them as Detection Findings (class 2004). Lifting a
// suspension is for workspace administrators only.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Metrics } from '../../../server/observability/metrics.ts';
import { NS, accessPolicy, client, idp, organization, user } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';

let gh: TestServer;
let metrics: Metrics;
const PASSWORD = 'correct horse battery staple';
const secrets: Record<string, string> = {};
const tokens: Record<string, string> = {};
const base = `/admin/v1/namespaces/${NS}`;
const API = 'https://inventory.example';

const console = (name: string, org: string) => ({ ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }), metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });

async function machineToken(org: string, ip: string): Promise<number> {
  const basic = Buffer.from(`${encodeURIComponent(`${org}-sync.${NS}`)}:${encodeURIComponent(secrets[`${org}-sync`]!)}`).toString('base64');
  const res = await fetch(`${gh.url}/${NS}/${org}/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
  return res.status;
}

beforeAll(async () => {
  metrics = new Metrics({ processMetrics: false });
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'], metrics });
  const risk = { rules: { newClientAddress: { weight: 50 }, clientBurst: { weight: 100, minimum: 3 } }, thresholds: { deny: 50, suspendClient: 100 } };
  for (const org of ['cascade', 'forge']) {
    await gh.put('organizations', organization(org, { risk }));
    await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
    await gh.put('clients', console(`${org}-console`, org));
    await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
    await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
    await gh.put('users', user(`${org}-admin`, org, { email: `admin@${org}.example`, roles: ['organization-admin'] }));
    for (const name of [`${org}-console`, `${org}-sync`]) secrets[name] = (await gh.admin('POST', `${base}/clients/${name}/secret`)).body.clientSecret;
    await setPassword(gh, `${org}-admin`, PASSWORD);
    tokens[org] = (await signIn(gh, org, `${org}-console`, secrets[`${org}-console`]!, { email: `admin@${org}.example`, password: PASSWORD })).access_token;
  }
  // Cascade's client: a usual address, then a new one (denied), then a flood (suspended).
  expect(await machineToken('cascade', '193.0.0.1')).toBe(200);
  expect(await machineToken('cascade', '8.8.8.8')).toBe(400);
  for (let i = 0; i < 3; i++) await machineToken('cascade', '193.0.0.1');
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('GET …/organizations/{org}/risk', () => {
  it('summarises the decisions, the rules that fired, the suspended clients and the latest reasons', async () => {
    const res = await gh.admin('GET', `${base}/organizations/cascade/risk`);
    expect(res.status).toBe(200);
    // The administrator's own sign-in was scored too (allowed): every sign-in of an organization with `risk` is.
    expect(res.body).toMatchObject({ organization: 'cascade', evaluated: 3, decisions: { allow: 1, stepUp: 0, deny: 1, suspendClient: 1 }, rules: { newClientAddress: 1, clientBurst: 1, newDevice: 0 }, suspendedClients: [{ client: 'cascade-sync', rules: ['clientBurst'] }], suspensionEvents: 1 });
    expect(res.body.recent[1]).toMatchObject({ event: 'risk.denied', action: 'deny', ip: '8.8.8.8', rules: [{ rule: 'newClientAddress', reason: '8.8.8.8 was never seen for this client' }] });
    expect((await gh.admin('GET', `${base}/organizations/forge/risk`)).body).toMatchObject({ evaluated: 1, decisions: { allow: 1, deny: 0, suspendClient: 0 }, suspendedClients: [] });
  });

  it('reads a window: nothing since a later instant', async () => {
    const later = new Date(gh.clock.now() + 60_000).toISOString();
    expect((await gh.admin('GET', `${base}/organizations/cascade/risk?since=${later}`)).body.evaluated).toBe(0);
    expect((await gh.admin('GET', `${base}/organizations/cascade/risk?since=yesterday`)).status).toBe(400);
  });

  it("is read by the organization's own administrator", async () => {
    const res = await adminAs(gh, tokens.cascade!)('GET', `${base}/organizations/cascade/risk`);
    expect(res.status).toBe(200);
    expect(res.body.decisions.deny).toBe(1);
  });

  it("is refused to another organization's administrator, who learns nothing of it", async () => {
    const res = await adminAs(gh, tokens.forge!)('GET', `${base}/organizations/cascade/risk`);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain('cascade-sync');
    expect((await adminAs(gh, tokens.forge!)('GET', `${base}/organizations/no-such-org/risk`)).status).toBe(403);
  });

  it('answers 404 for an organization that does not exist (to a workspace administrator)', async () => {
    expect((await gh.admin('GET', `${base}/organizations/no-such-org/risk`)).status).toBe(404);
  });
});

describe('lifting a suspension', () => {
  it("is refused to the client's own partner administrator", async () => {
    expect((await adminAs(gh, tokens.cascade!)('DELETE', `${base}/clients/cascade-sync/suspension`)).status).toBe(403);
    expect(await machineToken('cascade', '193.0.0.1')).toBe(400);
  });
});

describe('metrics', () => {
  it('count decisions by action, rules by name and suspensions, by organization', async () => {
    const { body } = await metrics.exposition();
    expect(body).toContain(`gatehouse_risk_decisions_total{namespace="${NS}",organization="cascade",action="deny"} 1`);
    expect(body).toContain(`gatehouse_risk_decisions_total{namespace="${NS}",organization="cascade",action="suspendClient"} 1`);
    expect(body).toContain(`gatehouse_risk_rules_fired_total{namespace="${NS}",organization="cascade",rule="newClientAddress"} 1`);
    expect(body).toContain(`gatehouse_risk_rules_fired_total{namespace="${NS}",organization="cascade",rule="clientBurst"} 1`);
    expect(body).toContain(`gatehouse_risk_client_suspensions_total{namespace="${NS}",organization="cascade"} 1`);
    expect(body).toContain(`gatehouse_risk_decisions_total{namespace="${NS}",organization="forge",action="allow"} 1`);
    expect(body).not.toContain('organization="forge",action="deny"');
  });
});

describe('the OCSF export', () => {
  it('carries decisions and suspensions as Detection Findings with the score and the rules', async () => {
    const res = await fetch(`${gh.url}/admin/v1/audit/export?format=ocsf&organization=cascade`, { headers: { authorization: `Bearer ${gh.token}` } });
    const events = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.class_uid === 2004);
    expect(events.map((e) => e.unmapped.action)).toEqual(['risk.evaluated', 'risk.denied', 'risk.denied', 'client.suspended']);
    expect(events[0]).toMatchObject({ risk_score: 0, risk_level: 'Info', severity: 'Informational', finding_info: { title: 'Risk evaluated: allowed' } });
    events.shift();
    expect(events[0]).toMatchObject({ category_uid: 2, class_name: 'Detection Finding', type_uid: 200401, risk_score: 50, risk_level: 'High', severity_id: 4, finding_info: { title: 'Risk evaluated: denied', types: ['newClientAddress'] }, src_endpoint: { ip: '8.8.8.8' } });
    expect(events[0]!.finding_info.desc).toBe('newClientAddress (+50): 8.8.8.8 was never seen for this client');
    expect(events[2]).toMatchObject({ finding_info: { title: 'Client suspended by the risk policy' }, risk_score: 100 });
  });
});
