// Signals, recorded: every token decision and introspection audit record says where the
// request came from (data.signals), after the trusted-proxy rules, and the OCSF export maps it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';
import { USER_AGENT_LIMIT } from '../../../server/risk/signals.ts';
import { toOcsf } from '../../../server/audit/ocsf.ts';

type Signals = { ip: string; userAgent?: string };
type AuditRecord = { seq: number; action: string; data: { signals?: Signals } };

let direct: TestServer;
let proxied: TestServer;
const secrets = new Map<TestServer, string>();
const PASSWORD = 'correct horse battery staple';
let webSecret: string;

async function setUp(gh: TestServer): Promise<void> {
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge'));
  await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: ['https://inventory.example'] }));
  await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
  secrets.set(gh, (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-sync/secret`)).body.clientSecret);
}

/** A request to the issuer's endpoint `path` as forge-sync, with `headers` added. */
async function post(gh: TestServer, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const basic = Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secrets.get(gh)!)}`).toString('base64');
  return fetch(`${gh.url}/${NS}/forge${path}`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
}

async function last(gh: TestServer, action: string): Promise<AuditRecord> {
  const items = (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=100`)).body.items as AuditRecord[];
  return items.reduce((a, b) => (b.seq > a.seq ? b : a));
}

beforeAll(async () => {
  direct = await startTestServer();
  proxied = await startTestServer({ trustedProxies: ['127.0.0.1/32'] });
  await setUp(direct);
  await setUp(proxied);
  await direct.put('clients', client('forge-web', 'forge', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await direct.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
  await direct.put('users', user('ana', 'forge', { email: 'ana@forge.example' }));
  await setPassword(direct, 'ana', PASSWORD);
  webSecret = (await direct.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-web/secret`)).body.clientSecret;
});
afterAll(async () => {
  await direct?.close();
  await proxied?.close();
});

describe('signals on token decisions', () => {
  it('records the client address and User-Agent of a client_credentials token', async () => {
    const res = await post(direct, '/token', { grant_type: 'client_credentials', scope: 'inventory:read' }, { 'user-agent': 'forge-sync/2.1' });
    expect(res.status).toBe(200);
    const record = await last(direct, 'token.issued');
    expect(record.data.signals).toEqual({ ip: '127.0.0.1', userAgent: 'forge-sync/2.1' });
  });

  it('records the address of a refused token request', async () => {
    const res = await post(direct, '/token', { grant_type: 'client_credentials', scope: 'inventory:read', resource: 'https://elsewhere.example' });
    expect(res.status).toBe(400);
    expect((await last(direct, 'token.refused')).data.signals?.ip).toBe('127.0.0.1');
  });

  it('records the address of a token found inactive at introspection', async () => {
    const res = await post(direct, '/token/introspection', { token: 'forged.token.value' });
    expect(await res.json()).toMatchObject({ active: false });
    expect((await last(direct, 'token.introspected-inactive')).data.signals?.ip).toBe('127.0.0.1');
  });

  it('does not believe X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    await post(direct, '/token', { grant_type: 'client_credentials', scope: 'inventory:read' }, { 'x-forwarded-for': '203.0.113.9' });
    expect((await last(direct, 'token.issued')).data.signals?.ip).toBe('127.0.0.1');
  });

  it('believes X-Forwarded-For from a trusted proxy, only up to the first hop that is not one', async () => {
    await post(proxied, '/token', { grant_type: 'client_credentials', scope: 'inventory:read' }, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' });
    expect((await last(proxied, 'token.issued')).data.signals?.ip).toBe('203.0.113.9');
  });

  it('keeps the User-Agent short and free of control characters', async () => {
    await post(direct, '/token', { grant_type: 'client_credentials', scope: 'inventory:read' }, { 'user-agent': `evil\tagent${'x'.repeat(2000)}` });
    const { userAgent } = (await last(direct, 'token.issued')).data.signals!;
    expect(userAgent).toHaveLength(USER_AGENT_LIMIT);
    expect(userAgent!.startsWith('evilagent')).toBe(true);
  });

  it('is exported to OCSF as src_endpoint.ip and http_request.user_agent', async () => {
    await post(direct, '/token', { grant_type: 'client_credentials', scope: 'inventory:read' }, { 'user-agent': 'forge-sync/2.1' });
    const record = await last(direct, 'token.issued');
    const event = toOcsf({ at: 0, namespace: NS, name: null, outcome: 'success', actor: 'x', client: null, subject: null, ...record } as unknown as Parameters<typeof toOcsf>[0]);
    expect(event).toMatchObject({ src_endpoint: { ip: '127.0.0.1' }, http_request: { user_agent: 'forge-sync/2.1' } });
  });
});

describe('signals on a password sign-in', () => {
  it('records the address and User-Agent of the browser on login.succeeded, and on the code exchange', async () => {
    await signIn(direct, 'forge', 'forge-web', webSecret, { email: 'ana@forge.example', password: PASSWORD });
    const login = await last(direct, 'login.succeeded');
    expect(login.data.signals).toMatchObject({ ip: '127.0.0.1', userAgent: expect.any(String) });
    expect((await last(direct, 'token.issued')).data.signals?.ip).toBe('127.0.0.1');
  });

  it('records them on a failed sign-in too', async () => {
    await expect(signIn(direct, 'forge', 'forge-web', webSecret, { email: 'ana@forge.example', password: 'not the password!' })).rejects.toThrow(/401/);
    expect((await last(direct, 'login.failed')).data.signals).toMatchObject({ ip: '127.0.0.1', userAgent: expect.any(String) });
  });
});
