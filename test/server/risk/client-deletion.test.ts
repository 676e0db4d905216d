// Deleting a Client through the admin API forgets what risk scoring learned for it — its own
// addresses and, for a workspace client, each organization's at the shared issuer — in the
// deletion's transaction, counted in its audit record, and lifts a suspension it was under. A
// client declared again under the same name starts with nothing learned and not suspended, on
// the replica that deleted it and on another one: the first address it uses is its history
// again, and an address the old client used is new.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NS, accessPolicy, client, organization } from '../../support/objects.ts';
import { pollUntil } from '../../support/eventually.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

let gh: TestServer;
let replica: TestServer;
const API = 'https://inventory.example';
let secret = '';

async function declare(): Promise<void> {
  await gh.put('clients', client('south-sync', 'south', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/south-sync/secret`)).body.clientSecret;
}

/** A client_credentials token request of south-sync at `server`, from `ip` through the trusted proxy; the status. */
async function token(server: TestServer, ip: string): Promise<number> {
  const basic = Buffer.from(`${encodeURIComponent(`south-sync.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64');
  const res = await fetch(`${server.url}/${NS}/south/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
  await res.body?.cancel();
  return res.status;
}

const learned = async (owner: string) => (await gh.store.risk.seen(NS, 'address', owner)).map((r) => r.value).sort();

beforeAll(async () => {
  gh = await startTestServer({ now: '2026-11-23T09:00:00Z', trustedProxies: ['127.0.0.1/32'] });
  // Any address the client never used is denied: what was learned decides every token.
  await gh.put('organizations', organization('south', { risk: { rules: { newClientAddress: { weight: 50 } }, thresholds: { deny: 50 } } }));
  await gh.put('accesspolicies', accessPolicy('south-inventory', 'south', { scopes: [{ scope: 'inventory:read' }] }));
  await declare();
  replica = await startTestServer({ dataDir: gh.dataDir, trustedProxies: ['127.0.0.1/32'] });
}, 60_000);
afterAll(async () => {
  await replica?.close();
  await gh?.close();
});

describe('a deleted client', () => {
  it('had learned its addresses: a new one is denied, on either replica', async () => {
    expect(await token(gh, '193.0.0.1')).toBe(200);
    expect(await token(replica, '193.0.0.1')).toBe(200);
    expect(await token(gh, '198.51.100.7')).toBe(400);
    expect(await token(replica, '198.51.100.7')).toBe(400);
    expect(await learned('south-sync')).toEqual(['193.0.0.1']);
  });

  it('forgets them with the deletion, in both owner forms, audited with the Client.deleted record', async () => {
    // What the shared issuer learns for a workspace client is per organization: `<client> <organization>`.
    await gh.store.risk.remember(NS, 'address', 'south-sync north', '203.0.113.9', gh.clock.now());
    await gh.store.risk.remember(NS, 'address', 'south-syncer', '203.0.113.10', gh.clock.now());
    // Paused by the risk engine: the pause is the old client's too.
    await gh.store.risk.suspend({ namespace: NS, client: 'south-sync', organization: 'south', score: 90, rules: ['newClientAddress'], suspendedAt: gh.clock.now(), until: null });
    const res = await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/clients/south-sync`);
    expect(res.status).toBe(200);
    expect(await learned('south-sync')).toEqual([]);
    expect(await learned('south-sync north')).toEqual([]);
    // Another client whose name merely starts the same keeps its own.
    expect(await learned('south-syncer')).toEqual(['203.0.113.10']);
    const [record] = (await gh.admin('GET', `/admin/v1/audit?action=Client.deleted&limit=1`)).body.items;
    expect(record).toMatchObject({ kind: 'Client', name: 'south-sync', data: { riskForgotten: 2, suspensionLifted: 1 } });
    expect(await gh.store.risk.suspensions(NS)).toEqual([]);
  });

  it('declared again under its name starts with nothing learned, on the replica that deleted it and on another', async () => {
    await declare();
    // Its first address is its history, not a change; the old client's address is new to it.
    expect(await token(gh, '198.51.100.7')).toBe(200);
    expect(await token(gh, '193.0.0.1')).toBe(400);
    // The other replica serves the new client once it has read the change (its memory was the old client's).
    expect(
      await pollUntil(
        async () => (await token(replica, '198.51.100.7')) !== 401 && 'read',
        10_000,
        () => 'the replica never served the new client',
      ),
    ).toBe('read');
    expect(await token(replica, '198.51.100.7')).toBe(200);
    expect(await token(replica, '193.0.0.1')).toBe(400);
    expect(await learned('south-sync')).toEqual(['198.51.100.7']);
  });
});
