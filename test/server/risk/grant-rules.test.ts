// Adaptive access at the token endpoint: clientBurst (a client_credentials client far above its
// baseline) trips suspendClient — the client is paused, audited, shown in status, refused until
// a person lifts it or the declared suspendFor passes — while other clients and organizations
// go on; newClientAddress fires for a token requested from an address the client never used.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NS, accessPolicy, client, organization } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

let gh: TestServer;
const secrets: Record<string, string> = {};
const API = 'https://inventory.example';

const burst = { clientBurst: { weight: 100, window: '1m', factor: 5, minimum: 20 } };

/** An m2m client `name` of `org`, granted inventory:read. */
async function machine(name: string, org: string): Promise<void> {
  await gh.put('clients', client(name, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
  secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
}

/** A client_credentials token request of `name` (of `org`), from `ip` through the trusted proxy. */
async function token(name: string, org: string, ip = '193.0.0.1'): Promise<{ status: number; body: { access_token?: string; error?: string; error_description?: string } }> {
  const basic = Buffer.from(`${encodeURIComponent(`${name}.${NS}`)}:${encodeURIComponent(secrets[name]!)}`).toString('base64');
  const res = await fetch(`${gh.url}/${NS}/${org}/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
  return { status: res.status, body: await res.json() };
}

async function tokens(n: number, name: string, org: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await token(name, org)).status);
  return out;
}

const audit = async (query: string) => (await gh.admin('GET', `/admin/v1/audit?${query}`)).body.items as { action: string; actor: string; client: string; organization: string; data: Record<string, any> }[];

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'] });
  await gh.put('organizations', organization('forge', { risk: { rules: burst, thresholds: { suspendClient: 100 } } }));
  await gh.put('organizations', organization('cascade', { risk: { rules: burst, thresholds: { suspendClient: 100 } } }));
  await gh.put('organizations', organization('pinnacle', { risk: { rules: burst, thresholds: { suspendClient: 100 }, suspendFor: '10m' } }));
  await gh.put('organizations', organization('north', { risk: { rules: { newClientAddress: { weight: 50 } }, thresholds: { deny: 50 } } }));
  for (const org of ['forge', 'cascade', 'pinnacle', 'north']) await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
  await machine('forge-flood', 'forge');
  await machine('forge-steady', 'forge');
  await machine('cascade-sync', 'cascade');
  await machine('pinnacle-sync', 'pinnacle');
  await machine('north-sync', 'north');
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('clientBurst and suspendClient', () => {
  it('lets clients issue at their usual rate, minute after minute', async () => {
    for (let minute = 0; minute < 3; minute++) {
      expect(await tokens(8, 'forge-flood', 'forge')).toEqual(Array(8).fill(200));
      expect(await tokens(8, 'forge-steady', 'forge')).toEqual(Array(8).fill(200));
      expect(await tokens(8, 'cascade-sync', 'cascade')).toEqual(Array(8).fill(200));
      gh.clock.advance(60_000);
    }
    expect(await audit('action=risk.*')).toEqual([]);
  });

  it('suspends a client that floods far above its baseline: the flooding token is refused, and every one after it', async () => {
    // Baseline 8 a minute: the limit is max(minimum 20, factor 5 × 8) = 40.
    const statuses = await tokens(45, 'forge-flood', 'forge');
    expect(statuses.slice(0, 40)).toEqual(Array(40).fill(200));
    expect(statuses[40]).toBe(400);
    const refused = await token('forge-flood', 'forge');
    expect(refused).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    expect(refused.body.error_description).toMatch(/^client forge-flood is suspended by the risk policy of .* until an administrator lifts it$/);
    const [decision] = await audit('action=risk.denied');
    expect(decision).toMatchObject({ organization: 'forge', client: `forge-flood.${NS}`, data: { stage: 'token', grant: 'client_credentials', action: 'suspendClient', score: 100, rules: [{ rule: 'clientBurst', weight: 100 }] } });
    expect(decision!.data.rules[0].reason).toMatch(/^41 tokens within 1m, above 40 \(baseline 8\.0 per window\)$/);
    const [suspended] = await audit('action=client.suspended');
    expect(suspended).toMatchObject({ actor: 'risk-engine', organization: 'forge', client: 'forge-flood', data: { score: 100, until: null } });
    expect((await audit('action=token.refused')).filter((r) => r.data.reason === 'client-suspended')).not.toEqual([]);
  });

  it('is refused by another replica from its first request (the suspension is in the store)', async () => {
    const replica = await startTestServer({ dataDir: gh.dataDir, trustedProxies: ['127.0.0.1/32'] });
    try {
      const basic = Buffer.from(`${encodeURIComponent(`forge-flood.${NS}`)}:${encodeURIComponent(secrets['forge-flood']!)}`).toString('base64');
      const res = await fetch(`${replica.url}/${NS}/forge/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('unauthorized_client');
    } finally {
      await replica.close();
    }
  });

  it('leaves the organization’s other clients and other organizations untouched', async () => {
    expect(await tokens(8, 'forge-steady', 'forge')).toEqual(Array(8).fill(200));
    expect(await tokens(8, 'cascade-sync', 'cascade')).toEqual(Array(8).fill(200));
  });

  it("shows the suspension in the Client's and the Organization's status, and in the risk summary", async () => {
    const c = await gh.admin('GET', `/admin/v1/namespaces/${NS}/clients/forge-flood`);
    expect(c.body.status.suspension).toMatchObject({ client: 'forge-flood', organization: 'forge', score: 100, rules: ['clientBurst'], until: null });
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/clients/forge-steady`)).body.status?.suspension).toBeUndefined();
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/forge`)).body.status.suspendedClients).toEqual(['forge-flood']);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/cascade`)).body.status.suspendedClients).toBeUndefined();
    const summary = (await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/forge/risk`)).body;
    expect(summary).toMatchObject({ organization: 'forge', decisions: { suspendClient: 1, deny: 0 }, rules: { clientBurst: 1 }, suspendedClients: [{ client: 'forge-flood' }] });
    expect(summary.recent[0]).toMatchObject({ event: 'risk.denied', stage: 'token', action: 'suspendClient', score: 100, ip: '193.0.0.1' });
  });

  it('is lifted by a person through the admin API, audited; lifting twice is a 404', async () => {
    const lifted = await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/clients/forge-flood/suspension`);
    expect(lifted).toMatchObject({ status: 200, body: { lifted: { client: 'forge-flood', rules: ['clientBurst'] } } });
    expect((await audit('action=client.resumed'))[0]).toMatchObject({ client: 'forge-flood', data: { by: 'person' } });
    expect((await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/clients/forge-flood/suspension`)).status).toBe(404);
    gh.clock.advance(60_000);
    expect((await token('forge-flood', 'forge')).status).toBe(200);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/clients/forge-flood`)).body.status?.suspension).toBeUndefined();
  });

  it('is computed on every read: a status write carrying an old suspension back does not show it', async () => {
    const stale = { client: 'forge-flood', organization: 'forge', score: 100, rules: ['clientBurst'], suspendedAt: '2026-11-23T09:03:00.000Z', until: null };
    expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/clients/forge-flood/status`, { status: { suspension: stale } })).status).toBe(200);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/clients/forge-flood`)).body.status?.suspension).toBeUndefined();
  });

  it('is lifted by the declared suspendFor once it has passed', async () => {
    expect(await tokens(25, 'pinnacle-sync', 'pinnacle')).toEqual([...Array(20).fill(200), ...Array(5).fill(400)]);
    expect((await token('pinnacle-sync', 'pinnacle')).body.error_description).toMatch(/until 2026-11-23T09:1\d:00\.000Z$/);
    gh.clock.advance(9 * 60_000);
    expect((await token('pinnacle-sync', 'pinnacle')).status).toBe(400);
    gh.clock.advance(2 * 60_000);
    expect((await token('pinnacle-sync', 'pinnacle')).status).toBe(200);
    await gh.gatehouse.risk.refresh();
    expect((await audit('action=client.resumed')).find((r) => r.client === 'pinnacle-sync')).toMatchObject({ actor: 'risk-engine', data: { by: 'timeout' } });
  });
});

describe('newClientAddress', () => {
  it('does not fire for the addresses a client always uses', async () => {
    expect((await token('north-sync', 'north', '193.0.0.1')).status).toBe(200);
    expect((await token('north-sync', 'north', '193.0.0.1')).status).toBe(200);
    expect(await audit('organization=north&action=risk.*')).toEqual([]);
  });

  it('fires for a token requested from an address never seen for the client, and denies it at the threshold', async () => {
    const res = await token('north-sync', 'north', '8.8.8.8');
    expect(res).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(res.body.access_token).toBeUndefined();
    const [decision] = await audit('organization=north&action=risk.denied');
    expect(decision).toMatchObject({ data: { action: 'deny', score: 50, rules: [{ rule: 'newClientAddress', weight: 50, reason: '8.8.8.8 was never seen for this client' }], signals: { ip: '8.8.8.8' } } });
    // A refused request teaches nothing: asking again from there is refused again.
    expect((await token('north-sync', 'north', '8.8.8.8')).status).toBe(400);
    expect((await token('north-sync', 'north', '193.0.0.1')).status).toBe(200);
  });

  it('keeps what it saw in the store, for every replica', async () => {
    expect((await gh.store.risk.seen(NS, 'address', 'north-sync')).map((r) => r.value).sort()).toEqual(['193.0.0.1']);
  });
});
