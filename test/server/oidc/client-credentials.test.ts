// Gatehouse's own client_credentials grant (server/oidc/client-credentials.ts), specified against
// oidc-provider itself: one snapshot and key ring, a real provider from buildProvider and the
// module, both on loopback servers, asked the same raw HTTP requests; their answers must be equal
// (status, the headers that matter, the body, the JWT but its jti) and the JWTs verify.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { ClientCredentialsGrant, constantEquals, isClientCredentials, readTokenBody, type TokenDecision } from '../../../server/oidc/client-credentials.ts';
import type { KeyRing } from '../../../server/oidc/keys.ts';
import type { ClaimsDropped } from '../../../server/oidc/machine.ts';
import { clientRegistrations } from '../../../server/oidc/client-registrations.ts';
import { buildProvider } from '../../../server/oidc/provider.ts';
import { loadSnapshot } from '../../../server/oidc/snapshot.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, claimMapping, client, organization, workspace } from '../../support/objects.ts';

const NOW = Date.parse('2026-11-23T09:00:00Z');
const ORDERS = 'https://orders.cascade.example';
const REPORTS = 'https://reports.cascade.example';
const STRICT = 'strict-partners';
const clock = { now: () => Date.now() };

/** One issuer asked two ways: oidc-provider (from buildProvider) and the module, each behind a loopback server. */
interface Pair {
  issuer: string;
  /** The token endpoint's path, where the provider is mounted as the registry mounts it (its issuer's path). */
  tokenPath: string;
  ring: KeyRing;
  provider: Server;
  module: Server;
  /** What each side reported through onClaimsDropped. */
  dropped: { provider: Parameters<ClaimsDropped>[0][]; module: Parameters<ClaimsDropped>[0][] };
  /** What the gates would read afterwards: ctx.oidc on the provider's side, the answer's decision on the module's. */
  decisions: { provider: unknown[]; module: unknown[] };
  grant: ClientCredentialsGrant;
  /** The client ids oidc-provider registers here (client-registrations.ts). */
  registered: string[];
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

let gh: TestServer;
let cascade: Pair;
let ending: Pair;
let strict: Pair;
let shared: Pair;
/** Namespaces whose Workspace signs with another algorithm. */
const OTHER_ALGS = [
  ['ed-partners', 'EdDSA'],
  ['rsa-partners', 'RS256'],
] as const;
const byAlg = new Map<string, Pair>();
const secrets: Record<string, string> = {};

const put = async (ns: string, plural: string, object: { metadata: { name: string } }) => {
  const res = await gh.admin('PUT', `/admin/v1/namespaces/${ns}/${plural}/${object.metadata.name}`, { ...object, metadata: { ...object.metadata, namespace: ns } });
  if (res.status >= 300) throw new Error(JSON.stringify(res.body));
};
const secretOf = async (ns: string, name: string) => (secrets[`${name}.${ns}`] = (await gh.admin('POST', `/admin/v1/namespaces/${ns}/clients/${name}/secret`)).body.clientSecret);

const summary = (oidc: { client?: { clientId: string; clientAuthMethod?: string }; params: TokenDecision['params'] }) => ({
  client: oidc.client ? { clientId: oidc.client.clientId, clientAuthMethod: oidc.client.clientAuthMethod } : undefined,
  params: oidc.params ? { grant_type: oidc.params.grant_type, client_id: oidc.params.client_id, scope: oidc.params.scope, resource: oidc.params.resource } : undefined,
});

const listen = (server: Server) => new Promise<Server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));

async function pairFor(ns: string, organizationName: string | undefined, alg: 'ES256' | 'EdDSA' | 'RS256' = 'ES256'): Promise<Pair> {
  const issuer = organizationName ? `${gh.url}/${ns}/${organizationName}` : `${gh.url}/${ns}`;
  const snapshot = (await loadSnapshot(gh.store, gh.gatehouse.clientSecrets, ns, organizationName))!;
  const ring = await gh.gatehouse.keys.keyRing(ns, alg);
  const dropped: Pair['dropped'] = { provider: [], module: [] };
  const decisions: Pair['decisions'] = { provider: [], module: [] };
  const provider: Provider = buildProvider(snapshot, ring, {
    store: gh.store,
    clock,
    issuer,
    cookieKeys: ['k'],
    admitsUser: async () => undefined,
    onJwtIssued: async () => undefined,
    onClaimsDropped: async (d) => void dropped.provider.push(d),
  });
  provider.use(async (ctx, next) => {
    await next();
    const { oidc } = ctx as unknown as KoaContextWithOIDC;
    decisions.provider.push(summary({ client: oidc.client, params: oidc.params as TokenDecision['params'] }));
  });
  const grant = new ClientCredentialsGrant({ snapshot, ring, issuer, clock, onClaimsDropped: async (d) => void dropped.module.push(d) });
  const module = createServer(async (req, res) => {
    const tokenRequest = { headers: req.headers, body: await readTokenBody(req) };
    const answer = isClientCredentials(tokenRequest) ? await grant.answer(tokenRequest) : undefined;
    if (!answer) {
      res.writeHead(599).end();
      return;
    }
    decisions.module.push(summary(answer.oidc));
    res.writeHead(answer.status, answer.headers).end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
  // Mounted at the issuer's path, as the registry's direct path hands it requests (originalUrl less url).
  const callback = provider.callback();
  const mounted = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(`${snapshot.path}/`)) Object.assign(req, { originalUrl: url, url: url.slice(snapshot.path.length) });
    void callback(req, res);
  });
  const registered = clientRegistrations(snapshot, issuer).map((c) => c.client_id);
  return { issuer, tokenPath: `${snapshot.path}/token`, ring, provider: await listen(mounted), module: await listen(module), dropped, decisions, grant, registered };
}

/** One raw HTTP request, as a client on the network sends it. */
function send(server: Server, headers: Record<string, string>, body: string | Buffer | undefined, path: string): Promise<Answer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const HEADERS = ['content-type', 'cache-control', 'pragma', 'www-authenticate', 'vary', 'access-control-allow-origin', 'access-control-expose-headers'];
const form = 'application/x-www-form-urlencoded';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const AGENT = `agent.${NS}`;

/** The answer without what differs by construction (the JWT's jti), the JWT's header and payload decoded. */
function comparable(answer: Answer) {
  const headers = Object.fromEntries(HEADERS.map((h) => [h, answer.headers[h]]));
  if (!answer.headers['content-type']?.startsWith('application/json')) return { status: answer.status, headers, body: answer.body };
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  if (typeof body.access_token !== 'string') return { status: answer.status, headers, body };
  const { jti, ...payload } = decodeJwt(body.access_token);
  return { status: answer.status, headers, body: { ...body, access_token: { header: decodeProtectedHeader(body.access_token), payload, jti: typeof jti === 'string' && /^[A-Za-z0-9_-]{43}$/.test(jti) } } };
}

/** Asks both; expects the same answer and, for a token, one that verifies with the ring's public keys; returns the module's. */
type Headers = Record<string, string> | (() => Promise<Record<string, string>>);
async function both(pair: Pair, headers: Headers, body: string | Buffer | undefined): Promise<ReturnType<typeof comparable> & { token?: Record<string, unknown> }> {
  // Sent with the issuer's Host (the registry pins it: pinOrigin), each side its own headers when they are made per request (a DPoP proof's jti).
  const host = new URL(pair.issuer).host;
  const made = async () => ({ host, ...(typeof headers === 'function' ? await headers() : headers) });
  const before = { provider: pair.decisions.provider.length, module: pair.decisions.module.length };
  const expected = await send(pair.provider, await made(), body, pair.tokenPath);
  const actual = await send(pair.module, await made(), body, pair.tokenPath);
  expect(actual.status).not.toBe(599); // the module answered it
  expect(comparable(actual)).toEqual(comparable(expected));
  // What the audit and risk gates read afterwards is the same too.
  expect(pair.decisions.module.slice(before.module)).toEqual(pair.decisions.provider.slice(before.provider));
  const token = actual.status === 200 ? (JSON.parse(actual.body) as { access_token: string }).access_token : undefined;
  if (!token) return comparable(actual);
  const keys = createLocalJWKSet({ keys: pair.ring.publicJwks as never });
  for (const value of [token, (JSON.parse(expected.body) as { access_token: string }).access_token]) {
    await expect(jwtVerify(value, keys, { issuer: pair.issuer, typ: 'at+jwt', currentDate: new Date(NOW) })).resolves.toBeDefined();
  }
  return { ...comparable(actual), token: decodeJwt(token) };
}

const post = (fields: Record<string, string | string[]>) => new URLSearchParams(Object.entries(fields).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]))).toString();
const unsignedJwt = (payload: object) => `${Buffer.from('{"alg":"ES256","typ":"oauth-client-attestation+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;
/** A request as the registry hands it to the module, without a socket. */
const tokenRequest = (headers: Record<string, string>, body: string) => ({ headers: { 'content-type': form, 'content-length': String(body.length), ...headers }, body: Buffer.from(body) });
const asAgent = (extra: Record<string, string> = {}) => ({ 'content-type': form, authorization: basic(AGENT, secrets[AGENT]!), ...extra });

beforeAll(async () => {
  // oidc-provider stamps iat and exp from Date.now(): only Date is frozen, timers run.
  jest.useFakeTimers({ now: NOW, doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
  gh = await startTestServer({ now: new Date(NOW).toISOString() });
  await put(NS, 'workspaces', workspace({ tokens: { accessToken: '15m' } }));
  await put(NS, 'organizations', organization('cascade'));
  await put(NS, 'organizations', organization('forge'));
  // Its contract ends 100 s from now: a 15-minute token is cut to that.
  await put(NS, 'organizations', organization('ending', { contract: { id: 'C-ending', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: new Date(NOW + 100_000).toISOString() } }));
  // The organization's claims, then the client's own; contract_ref does not fit the claimSchema's values: dropped.
  await put(
    NS,
    'claimmappings',
    claimMapping('cascade-claims', 'cascade', {
      claims: [
        { name: 'partner_type', from: 'contract.partnerType', tokens: ['access'] },
        { name: 'contract_ref', from: 'contract.id', tokens: ['access'] },
        { name: 'tier', value: 'gold', tokens: ['access', 'id'] },
      ],
    }),
  );
  // orders:write needs a second factor, billing:read an approval: neither is ever a machine's.
  await put(NS, 'accesspolicies', accessPolicy('cascade-apis', 'cascade', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireMfa: true }, { scope: 'reports:read' }, { scope: 'billing:read', requireApproval: true }, { scope: 'audit:read' }], approvers: { roles: ['organization-admin'] } }));
  const m2m = (name: string, org: string, spec: object) => client(name, org, { type: 'm2m', redirectUris: [], ...spec });
  await put(NS, 'clients', m2m('agent', 'cascade', { scopes: ['openid', 'orders:read', 'orders:write', 'reports:read', 'billing:read', 'audit:read'], audiences: [ORDERS, REPORTS], mfa: { requiredScopes: ['audit:read'] } }));
  await put(NS, 'clients', m2m('narrow', 'cascade', { scopes: ['orders:read'], audiences: [REPORTS, ORDERS] }));
  await put(NS, 'clients', m2m('pending', 'cascade', { scopes: ['orders:read'], audiences: [ORDERS] }));
  await put(NS, 'clients', m2m('no-audience', 'cascade', { scopes: ['orders:read'] }));
  await put(NS, 'clients', client('portal', 'cascade', { scopes: ['openid', 'orders:read'], audiences: [ORDERS], redirectUris: ['https://portal.cascade.example/callback'] }));
  await put(NS, 'clients', client('spa', 'cascade', { type: 'spa', scopes: ['openid', 'orders:read'], audiences: [ORDERS], redirectUris: ['https://spa.cascade.example/callback'] }));
  await put(NS, 'clients', m2m('forge-agent', 'forge', { scopes: ['orders:read'], audiences: [ORDERS] }));
  await put(
    NS,
    'claimmappings',
    claimMapping('agent-claims', 'cascade', {
      clientRef: { name: 'agent' },
      claims: [
        { name: 'team', value: 'integrations', tokens: ['access'] },
        { name: 'tier', value: 'platinum', tokens: ['access'] },
      ],
    }),
  );
  await put(NS, 'accesspolicies', accessPolicy('ending-apis', 'ending', { scopes: [{ scope: 'orders:read' }] }));
  await put(NS, 'clients', m2m('ending-agent', 'ending', { scopes: ['orders:read'], audiences: [ORDERS] }));
  // Declared after the mappings (a declaration is checked against it): contract_ref's value is not one it allows.
  await put(NS, 'workspaces', workspace({ tokens: { accessToken: '15m' }, claimSchema: { contract_ref: { type: 'enum', values: ['C-other'] } } }));
  // A workspace (shared-application) machine client, at the namespace's shared issuer.
  await put(NS, 'clients', client('shared-agent', undefined, { type: 'm2m', redirectUris: [], scopes: ['orders:read'], audiences: [ORDERS] }));
  for (const name of ['shared-agent', 'agent', 'narrow', 'no-audience', 'portal', 'forge-agent', 'ending-agent']) await secretOf(NS, name);
  // Another namespace, whose Workspace requires a claim no mapping gives.
  await put(STRICT, 'workspaces', workspace({ claimSchema: { cost_center: { type: 'string', required: true } } }));
  await put(STRICT, 'organizations', organization('acme'));
  await put(STRICT, 'accesspolicies', accessPolicy('acme-apis', 'acme', { scopes: [{ scope: 'orders:read' }] }));
  await put(STRICT, 'clients', m2m('acme-agent', 'acme', { scopes: ['orders:read'], audiences: [ORDERS] }));
  await secretOf(STRICT, 'acme-agent');
  for (const [ns, alg] of OTHER_ALGS) {
    await put(ns, 'workspaces', workspace({ signingAlgorithm: alg }));
    await put(ns, 'organizations', organization('acme'));
    await put(ns, 'accesspolicies', accessPolicy('acme-apis', 'acme', { scopes: [{ scope: 'orders:read' }] }));
    await put(ns, 'clients', m2m('acme-agent', 'acme', { scopes: ['orders:read'], audiences: [ORDERS] }));
    await secretOf(ns, 'acme-agent');
    byAlg.set(alg, await pairFor(ns, 'acme', alg));
  }
  cascade = await pairFor(NS, 'cascade');
  ending = await pairFor(NS, 'ending');
  strict = await pairFor(STRICT, 'acme');
  shared = await pairFor(NS, undefined);
});
afterAll(async () => {
  for (const pair of [cascade, ending, strict, shared, ...byAlg.values()]) for (const server of [pair?.provider, pair?.module]) await new Promise((resolve) => server?.close(resolve));
  await gh?.close();
  jest.useRealTimers();
});

describe('a client_credentials token, as oidc-provider issues it', () => {
  it('is the same JWT for client_secret_basic: claims mapped on the organization and the client, one dropped, step-up and approval scopes left out', async () => {
    const answer = await both(cascade, asAgent(), post({ grant_type: 'client_credentials', scope: 'openid orders:read orders:write reports:read billing:read audit:read' }));
    expect(answer.status).toBe(200);
    expect(answer.token).toMatchObject({ iss: cascade.issuer, sub: AGENT, client_id: AGENT, aud: ORDERS, scope: 'orders:read reports:read', partner_type: 'consultant', tier: 'platinum', team: 'integrations', organization_id: 'cascade', iat: NOW / 1000, exp: NOW / 1000 + 900 });
    expect(answer.token).not.toHaveProperty('contract_ref');
    // The dropped claim is reported once per issuer, by each.
    expect(cascade.dropped.module).toEqual([{ claims: ['contract_ref'], client: AGENT, subject: undefined, organization: 'cascade', token: 'access' }]);
    expect(cascade.dropped.module).toEqual(cascade.dropped.provider);
  });

  it.each([
    ['client_secret_post', { 'content-type': form }, { client_id: AGENT, client_secret: 'SECRET' }],
    ['no scope asked: none granted', null, {}],
    ['a resource named', null, { resource: REPORTS, scope: 'reports:read orders:read' }],
    ['the same resource twice', null, { resource: [ORDERS, ORDERS], scope: 'orders:read' }],
    ['client_id beside Basic, the same', null, { client_id: AGENT, scope: 'orders:read' }],
    ['only OIDC scopes the client has', null, { scope: 'openid' }],
    ['a scope asked twice in one value', null, { scope: 'orders:read orders:read' }],
    ['unknown parameters, other grants’ parameters, RAR and a JWT assertion ignored', null, { scope: 'orders:read', foo: 'bar', code: 'x', refresh_token: 'y', authorization_details: '[{"type":"x"}]', client_assertion: 'a.b.c', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' }],
    ['a form with a charset', { 'content-type': `${form}; charset=utf-8` }, { scope: 'orders:read' }],
    ['a chunked body', { 'transfer-encoding': 'chunked' }, { scope: 'orders:read' }],
    ['a form with an unknown charset (read as UTF-8)', { 'content-type': `${form}; charset=klingon` }, { scope: 'orders:read' }],
    ['a form with a malformed content type', { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset' }, { scope: 'orders:read' }],
    ['a client that prefers HTML (a success is JSON all the same)', { accept: 'text/html' }, { scope: 'orders:read' }],
  ] as [string, Record<string, string> | null, Record<string, string | string[]>][])('%s', async (_name, headers, fields) => {
    const post_ = 'client_secret' in fields;
    const body = post({ grant_type: 'client_credentials', ...fields, ...(post_ ? { client_secret: secrets[AGENT]! } : {}) });
    await both(cascade, post_ ? headers! : asAgent(headers ?? {}), body);
  });

  it.each(OTHER_ALGS.map(([ns, alg]) => [alg, ns]))('is signed with the Workspace’s %s key', async (alg, ns) => {
    const id = `acme-agent.${ns}`;
    const answer = await both(byAlg.get(alg)!, { 'content-type': form, authorization: basic(id, secrets[id]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }));
    expect(answer.body).toMatchObject({ access_token: { header: { alg, typ: 'at+jwt' } }, scope: 'orders:read' });
  });

  it('is cut to the end of the contract', async () => {
    const answer = await both(ending, { 'content-type': form, authorization: basic(`ending-agent.${NS}`, secrets[`ending-agent.${NS}`]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }));
    expect(answer.body).toMatchObject({ expires_in: 100 });
    expect(answer.token).toMatchObject({ exp: NOW / 1000 + 100, organization_id: 'ending' });
  });

  it('at the namespace’s shared issuer, carries no API scope (a machine has no organization)', async () => {
    const id = `shared-agent.${NS}`;
    const answer = await both(shared, { 'content-type': form, authorization: basic(id, secrets[id]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }));
    expect(answer.token).toMatchObject({ iss: shared.issuer, sub: id, aud: ORDERS });
    expect(answer.token).not.toHaveProperty('scope');
    // An organization's client is not the shared issuer's.
    await both(shared, asAgent(), post({ grant_type: 'client_credentials' }));
  });

  it('takes the client’s first audience when none is asked', async () => {
    const answer = await both(cascade, { 'content-type': form, authorization: basic(`narrow.${NS}`, secrets[`narrow.${NS}`]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }));
    expect(answer.token).toMatchObject({ aud: REPORTS, scope: 'orders:read' });
  });

  it('carries no scope for a client whose scopes no policy allows (another client’s memo is not reused)', async () => {
    await both(cascade, asAgent(), post({ grant_type: 'client_credentials', scope: 'orders:read', resource: ORDERS }));
    const answer = await both(cascade, { 'content-type': form, authorization: basic(`narrow.${NS}`, secrets[`narrow.${NS}`]!) }, post({ grant_type: 'client_credentials', scope: 'reports:read orders:write', resource: ORDERS }));
    expect(answer.token).not.toHaveProperty('scope');
  });
});

describe('a client_credentials request refused, as oidc-provider refuses it', () => {
  const cc = { grant_type: 'client_credentials' };
  it.each([
    ['a JSON body', { 'content-type': 'application/json' }, JSON.stringify(cc)],
    ['a form content type without a body', { 'content-type': form, 'content-length': '0' }, ''],
    ['a text body', { 'content-type': 'text/plain' }, post(cc)],
    ['a body over 56 KiB', {}, post({ ...cc, pad: 'x'.repeat(57 * 1024) })],
    ['no content type at all (no parameters read)', { 'content-type': '' }, post(cc)],
    ['a scope with a non-ASCII character', {}, post({ ...cc, scope: 'orders:réad' })],
    ['no grant_type', {}, post({ scope: 'orders:read' })],
    ['grant_type twice', {}, post({ grant_type: ['client_credentials', 'client_credentials'] })],
    ['scope twice', {}, post({ ...cc, scope: ['orders:read', 'reports:read'] })],
    ['a scope with invalid characters', {}, post({ ...cc, scope: 'orders:read  reports:read' })],
    ['a scope with a quote', {}, post({ ...cc, scope: 'orders"read' })],
    ['an OIDC scope the client does not have', {}, post({ ...cc, scope: 'openid profile' })],
    ['a resource that is not an audience', {}, post({ ...cc, resource: 'https://elsewhere.example' })],
    ['a resource that is not a URI', {}, post({ ...cc, resource: 'orders' })],
    ['a resource with a fragment', {}, post({ ...cc, resource: `${ORDERS}#x` })],
    ['two resources', {}, post({ ...cc, resource: [ORDERS, REPORTS] })],
    ['two resources, the second not an audience', {}, post({ ...cc, resource: [ORDERS, 'https://elsewhere.example'] })],
    ['an Origin header (a confidential client)', { origin: 'https://orders.cascade.example' }, post(cc)],
    ['an Origin header of null', { origin: 'null' }, post(cc)],
    ['an error to a client that prefers HTML', { accept: 'text/html,application/xhtml+xml' }, post({ ...cc, resource: 'https://elsewhere.example' })],
    ['an error to a client that accepts anything', { accept: '*/*' }, post({ ...cc, resource: 'https://elsewhere.example' })],
  ] as [string, Record<string, string>, string][])('%s', async (_name, headers, body) => {
    const answer = await both(cascade, asAgent(headers), body);
    expect(answer.status).toBeGreaterThanOrEqual(400);
  });

  const wrong = 'not-the-secret';
  it.each([
    ['a wrong secret (Basic)', () => ({ 'content-type': form, authorization: basic(AGENT, wrong) }), post(cc)],
    ['a wrong secret (post)', () => ({ 'content-type': form }), post({ ...cc, client_id: AGENT, client_secret: wrong })],
    ['a secret one character short', () => ({ 'content-type': form, authorization: basic(AGENT, secrets[AGENT]!.slice(0, -1)) }), post(cc)],
    ['Basic and post at once', () => asAgent(), post({ ...cc, client_id: AGENT, client_secret: secrets[AGENT]! })],
    ['a client_id that differs from Basic’s', () => asAgent(), post({ ...cc, client_id: `narrow.${NS}` })],
    ['client_id twice', () => ({ 'content-type': form }), post({ ...cc, client_id: [AGENT, AGENT], client_secret: 'x' })],
    ['client_id and client_secret twice', () => ({ 'content-type': form }), post({ ...cc, client_id: [AGENT, AGENT], client_secret: ['x', 'y'] })],
    ['an unknown client (Basic)', () => ({ 'content-type': form, authorization: basic(`nobody.${NS}`, 'x') }), post(cc)],
    ['an unknown client (post)', () => ({ 'content-type': form }), post({ ...cc, client_id: `nobody.${NS}`, client_secret: 'x' })],
    ['another organization’s client', () => ({ 'content-type': form, authorization: basic(`forge-agent.${NS}`, secrets[`forge-agent.${NS}`]!) }), post(cc)],
    ['a client whose secret is not generated yet', () => ({ 'content-type': form, authorization: basic(`pending.${NS}`, 'x') }), post(cc)],
    ['a web client', () => ({ 'content-type': form, authorization: basic(`portal.${NS}`, secrets[`portal.${NS}`]!) }), post(cc)],
    ['a public client, client_id alone', () => ({ 'content-type': form }), post({ ...cc, client_id: `spa.${NS}` })],
    ['a public client with a secret', () => ({ 'content-type': form }), post({ ...cc, client_id: `spa.${NS}`, client_secret: 'x' })],
    ['a public client from its own origin', () => ({ 'content-type': form, origin: 'https://spa.cascade.example' }), post({ ...cc, client_id: `spa.${NS}` })],
    ['a public client from another origin', () => ({ 'content-type': form, origin: 'https://evil.example' }), post({ ...cc, client_id: `spa.${NS}` })],
    ['a confidential client without a secret', () => ({ 'content-type': form }), post({ ...cc, client_id: AGENT })],
    ['no client at all', () => ({ 'content-type': form }), post(cc)],
    ['a Bearer authorization header', () => ({ 'content-type': form, authorization: 'Bearer abc' }), post(cc)],
    ['Basic with three parts', () => ({ 'content-type': form, authorization: 'Basic a b' }), post(cc)],
    ['Basic that is not base64', () => ({ 'content-type': form, authorization: 'Basic !!!!' }), post(cc)],
    ['Basic without a colon', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from('agent').toString('base64')}` }), post(cc)],
    ['Basic with an empty secret', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from(`${AGENT}:`).toString('base64')}` }), post(cc)],
    ['Basic with bad percent-encoding', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from(`${AGENT}:%zz`).toString('base64')}` }), post(cc)],
    ['Basic with a control character', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from(`${AGENT}:a%0Ab`).toString('base64')}` }), post(cc)],
    ['Basic with a plus for a space in the secret', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from(`${AGENT}:a+b`).toString('base64')}` }), post(cc)],
    ['Basic with the secret percent-encoded needlessly', () => ({ 'content-type': form, authorization: `Basic ${Buffer.from(`${encodeURIComponent(AGENT).replace('.', '%2E')}:${secrets[AGENT]!.replace(/./g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`).toString('base64')}` }), post({ ...cc, scope: 'orders:read' })],
    ['a lower-case basic scheme', () => ({ 'content-type': form, authorization: `basic ${Buffer.from(`${AGENT}:${secrets[AGENT]}`).toString('base64')}` }), post({ ...cc, scope: 'orders:read' })],
    ['an empty authorization header', () => ({ 'content-type': form, authorization: '' }), post({ ...cc, client_id: AGENT, client_secret: secrets[AGENT]! })],
    ['a client attestation (not enabled)', () => ({ 'content-type': form, 'oauth-client-attestation': unsignedJwt({ sub: AGENT }) }), post(cc)],
    ['a client attestation of an unknown client', () => ({ 'content-type': form, 'oauth-client-attestation': unsignedJwt({ sub: 'nobody' }) }), post(cc)],
    ['a client attestation without sub', () => ({ 'content-type': form, 'oauth-client-attestation': unsignedJwt({ iss: 'x' }) }), post(cc)],
    ['a client attestation that is no JWT', () => ({ 'content-type': form, 'oauth-client-attestation': 'garbage' }), post(cc)],
    ['a client attestation beside Basic', () => asAgent({ 'oauth-client-attestation': unsignedJwt({ sub: AGENT }) }), post(cc)],
    ['a client attestation beside client_id', () => ({ 'content-type': form, 'oauth-client-attestation': unsignedJwt({ sub: AGENT }) }), post({ ...cc, client_id: AGENT })],
    ['a client attestation naming another client than client_id', () => ({ 'content-type': form, 'oauth-client-attestation': unsignedJwt({ sub: `narrow.${NS}` }) }), post({ ...cc, client_id: AGENT })],
    ['an attestation proof of possession alone, with client_id', () => ({ 'content-type': form, 'oauth-client-attestation-pop': unsignedJwt({ iss: AGENT }) }), post({ ...cc, client_id: AGENT })],
    ['an attestation proof of possession beside client_secret_post', () => ({ 'content-type': form, 'oauth-client-attestation-pop': 'x' }), post({ ...cc, client_id: AGENT, client_secret: secrets[AGENT]! })],
  ] as [string, () => Record<string, string>, string][])('%s', async (_name, headers, body) => {
    await both(cascade, headers(), body);
  });

  it('knows every client oidc-provider registers, and only those', async () => {
    for (const pair of [cascade, shared]) {
      expect(pair.registered.length).toBeGreaterThan(0);
      for (const id of pair.registered) {
        await both(pair, { 'content-type': form }, post({ ...cc, client_id: id }));
        await both(pair, { 'content-type': form, authorization: basic(id, 'not-the-secret') }, post(cc));
      }
    }
  });

  it('refuses every token while a required claim has no value', async () => {
    const id = `acme-agent.${STRICT}`;
    for (let i = 0; i < 2; i++) {
      const answer = await both(strict, { 'content-type': form, authorization: basic(id, secrets[id]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }));
      // oidc-provider's InvalidGrant keeps its own description (the reason is its error_detail, never shown).
      expect(answer.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    }
  });
});

describe('a DPoP proof (RFC 9449), ignored as oidc-provider ignores it with DPoP off', () => {
  let key: { privateKey: CryptoKey; jwk: JWK };
  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    key = { privateKey, jwk: await exportJWK(publicKey) };
  });
  const proof = (claims: Record<string, unknown> = {}) => new SignJWT({ htm: 'POST', htu: `${cascade.issuer}/token`, iat: NOW / 1000, jti: randomUUID(), ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk }).sign(key.privateKey);
  const cc = post({ grant_type: 'client_credentials', scope: 'orders:read' });
  const bearer = async (headers: Headers) => {
    const answer = await both(cascade, headers, cc);
    expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: 'orders:read' });
    expect(answer.token).not.toHaveProperty('cnf');
  };

  it('gives the same plain Bearer token, bound to no key, for a valid proof', async () => {
    await bearer(async () => asAgent({ dpop: await proof() }));
  });

  it.each([
    ['a proof that is no JWT', async () => 'garbage'],
    ['an expired proof for another URL', () => proof({ htu: 'https://elsewhere.example/token', iat: NOW / 1000 - 3600 })],
    ['a proof signed with HS256', () => new SignJWT({ htm: 'POST', htu: `${cascade.issuer}/token`, iat: NOW / 1000, jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' }).sign(new Uint8Array(32))],
  ] as [string, () => Promise<string>][])('gives it for %s too (never checked)', async (_name, made) => {
    await bearer(async () => asAgent({ dpop: await made() }));
  });

  it('keeps no proof: the same one twice, at either path, is no replay', async () => {
    const once = await proof();
    for (let i = 0; i < 2; i++) await bearer(asAgent({ dpop: once }));
  });

  it('answers it here, not at oidc-provider', async () => {
    expect(cascade.grant.leaves(tokenRequest({ authorization: basic(AGENT, secrets[AGENT]!), dpop: await proof() }, cc))).toBe(false);
  });
});

describe('what is left to oidc-provider', () => {
  it('another grant', () => {
    expect(isClientCredentials(tokenRequest({}, post({ grant_type: 'client_credentials' })))).toBe(true);
    expect(isClientCredentials(tokenRequest({}, post({ grant_type: 'refresh_token', refresh_token: 'x' })))).toBe(false);
    expect(isClientCredentials(tokenRequest({}, post({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange' })))).toBe(false);
    expect(isClientCredentials(tokenRequest({ dpop: 'a.b.c' }, post({ grant_type: 'client_credentials' })))).toBe(true);
    expect(isClientCredentials(tokenRequest({ 'oauth-client-attestation': 'a.b.c' }, post({ grant_type: 'client_credentials' })))).toBe(true);
  });

  it('an opaque token: a client with no audience asking none', async () => {
    const id = `no-audience.${NS}`;
    await expect(cascade.grant.answer(tokenRequest({ authorization: basic(id, secrets[id]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' })))).resolves.toBeUndefined();
    // …and oidc-provider's answer to it is indeed opaque.
    const answer = await send(cascade.provider, { 'content-type': form, authorization: basic(id, secrets[id]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read' }), cascade.tokenPath);
    expect(JSON.parse(answer.body).access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('what oidc-provider cannot tell', () => {
  it('compares secrets in constant time over at least 1000 bytes, as oidc-provider does', () => {
    expect(constantEquals('secret', 'secret')).toBe(true);
    expect(constantEquals('secret', 'secreT')).toBe(false);
    expect(constantEquals('secret', 'secret-longer')).toBe(false);
    expect(constantEquals('x'.repeat(2000), 'x'.repeat(2000))).toBe(true);
    expect(constantEquals('x'.repeat(2000), `${'x'.repeat(1999)}y`)).toBe(false);
    // One wrong byte costs what a right one does: the whole padded length is always compared (a
    // comparison that stops at the first difference takes tens of times longer on the late one).
    // The quickest of several alternating runs of each, so a pause of this shared machine lands on neither.
    const secret = 's'.repeat(4096);
    const time = (a: string) => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 2_000; i++) constantEquals(secret, a);
      return Number(process.hrtime.bigint() - started);
    };
    const early = [];
    const late = [];
    for (let round = 0; round < 8; round++) {
      early.push(time(`X${secret.slice(1)}`));
      late.push(time(`${secret.slice(1)}X`));
    }
    const [fastEarly, fastLate] = [Math.min(...early), Math.min(...late)];
    expect(Math.max(fastEarly, fastLate) / Math.min(fastEarly, fastLate)).toBeLessThan(2);
  });

  it('never gives one client the scopes memoised for another at the same resource', async () => {
    const narrow = `narrow.${NS}`;
    const first = await cascade.grant.answer(tokenRequest({ authorization: basic(AGENT, secrets[AGENT]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read reports:read', resource: ORDERS })));
    const second = await cascade.grant.answer(tokenRequest({ authorization: basic(narrow, secrets[narrow]!) }, post({ grant_type: 'client_credentials', scope: 'orders:read reports:read', resource: ORDERS })));
    expect(first?.body).toMatchObject({ scope: 'orders:read reports:read' });
    expect(second?.body).toMatchObject({ scope: 'orders:read' });
    const token = decodeJwt(String((second?.body as { access_token?: string } | undefined)?.access_token));
    expect(token).toMatchObject({ sub: narrow, client_id: narrow });
    expect(token).not.toHaveProperty('team');
  });

  it('keeps what a scope string grants, never a refusal', async () => {
    const ask = (scope: string) => cascade.grant.answer(tokenRequest({ authorization: basic(AGENT, secrets[AGENT]!) }, post({ grant_type: 'client_credentials', scope, resource: REPORTS })));
    for (let i = 0; i < 2; i++) {
      expect((await ask('openid profile orders:read'))?.body).toEqual({ error: 'invalid_scope', error_description: 'requested scope is not allowed', scope: 'profile' });
      expect((await ask('reports:read openid orders:write'))?.body).toMatchObject({ scope: 'reports:read' });
    }
    // Past the few kept, each is worked out anew, the same.
    for (let i = 0; i < 40; i++) expect((await ask(`orders:read x${i}`))?.body).toMatchObject({ scope: 'orders:read' });
  });

  it('knows another organization’s client as unknown, whatever its secret', async () => {
    const forge = `forge-agent.${NS}`;
    const answer = await cascade.grant.answer(tokenRequest({ authorization: basic(forge, secrets[forge]!) }, post({ grant_type: 'client_credentials' })));
    expect(answer).toMatchObject({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' }, oidc: { client: undefined } });
    expect(answer?.headers['www-authenticate']).toBe(`Basic realm="${cascade.issuer}", error="invalid_client", error_description="client authentication failed"`);
  });

  it('says who asked and what, for the audit, but never the secret', async () => {
    const answer = await cascade.grant.answer(tokenRequest({}, post({ grant_type: 'client_credentials', client_id: AGENT, client_secret: secrets[AGENT]!, scope: 'orders:read' })));
    expect(answer?.oidc).toEqual({ route: 'token', client: { clientId: AGENT, clientAuthMethod: 'client_secret_basic' }, params: { grant_type: 'client_credentials', client_id: AGENT, scope: 'orders:read', resource: ORDERS }, entities: {} });
    expect(JSON.stringify(answer?.oidc)).not.toContain(secrets[AGENT]);
  });
});
