/**
 * Refused attempts leave audit records: a bad bearer token at the admin API (and its
 * delegated-admin routes) and at userinfo, and an authorization request for a redirect URI
 * the client never registered. Each record says where, from which address and why, names
 * the token by a fingerprint only, and a flood from one address is counted, not written.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { fingerprint } from '../../../server/audit/refusals.ts';
import type { ChainRecord } from '../../../server/audit/chain.ts';
import { Sealer } from '../../../server/secrets/sealer.ts';
import { NS, client, organization, workspace } from '../../support/objects.ts';
import { TEST_SECRET_KEY, startTestServer, type TestServer } from '../../support/server.ts';

let gh: TestServer;
const OTHER = 'other-workspace';
const CALLBACK = 'https://cascade-web.example/callback';
let issuer: string;
/** The namespace's own signing key, and another namespace's, as an attacker who stole one would hold them. */
let own: { key: KeyObject; kid: string };
let foreign: { key: KeyObject; kid: string };

async function signingKey(namespace: string): Promise<{ key: KeyObject; kid: string }> {
  const [row] = await gh.store.keys.list(namespace);
  const jwk = JSON.parse(new Sealer(TEST_SECRET_KEY).open(row!.sealedPrivateJwk, `signing-key:${namespace}:${row!.kid}`)) as Record<string, unknown>;
  return { key: createPrivateKey({ key: jwk as never, format: 'jwk' }), kid: row!.kid };
}

/** An access-token-shaped JWT; each test breaks one thing about it. */
function accessJwt(options: { with?: { key: KeyObject; kid: string }; iss?: string; expiresIn?: number } = {}): Promise<string> {
  const signer = options.with ?? own;
  const now = Math.floor(gh.clock.now() / 1000);
  return new SignJWT({ client_id: `cascade-console.${NS}`, jti: 'j1', sub: 'ana' })
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' })
    .setIssuer(options.iss ?? issuer)
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (options.expiresIn ?? 600))
    .sign(signer.key);
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The newest record of `action`, after a fresh window (so no earlier test's count holds it back). */
async function lastRecord(action: string): Promise<ChainRecord | undefined> {
  return (await gh.admin('GET', `/admin/v1/audit?action=${action}&limit=1`)).body.items[0];
}

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('cascade'));
  await gh.put('clients', client('cascade-web', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  // A web client is served once it has a secret.
  expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-web/secret`)).status).toBeLessThan(300);
  expect((await gh.admin('PUT', `/admin/v1/namespaces/${OTHER}/workspaces/other`, { ...workspace(), metadata: { name: 'other', namespace: OTHER } })).status).toBeLessThan(300);
  expect((await gh.admin('PUT', `/admin/v1/namespaces/${OTHER}/organizations/acme`, { ...organization('acme'), metadata: { name: 'acme', namespace: OTHER } })).status).toBeLessThan(300);
  issuer = `${gh.url}/${NS}/cascade`;
  // Building each issuer makes its namespace's first signing key.
  expect((await fetch(`${issuer}/jwks`)).status).toBe(200);
  expect((await fetch(`${gh.url}/${OTHER}/acme/jwks`)).status).toBe(200);
  own = await signingKey(NS);
  foreign = await signingKey(OTHER);
}, 60_000);

afterAll(async () => {
  await gh.close();
});

type Case = [string, () => Promise<string>, string];

const forgedJwts: Case[] = [
  ["an expired JWT of the namespace's own key", () => accessJwt({ expiresIn: -60 }), 'expired'],
  [
    'a JWT whose payload was changed after signing',
    async () => {
      const [h, , s] = (await accessJwt()).split('.');
      return `${h}.${b64({ iss: issuer, sub: 'root', client_id: 'x', jti: 'j', iat: 1, exp: 9_999_999_999 })}.${s}`;
    },
    'bad-signature',
  ],
  ['an unsigned JWT (alg none)', async () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: issuer, sub: 'ana', client_id: `cascade-console.${NS}`, jti: 'j', iat: 1, exp: 9_999_999_999 })}.`, 'alg-not-allowed'],
  ['a JWT signed by a key of another namespace', () => accessJwt({ with: foreign }), 'unknown-key'],
  ["a JWT signed by a key that is nobody's", () => accessJwt({ with: { key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, kid: own.kid } }), 'bad-signature'],
  ['a JWT naming an issuer that is not ours', () => accessJwt({ iss: 'https://idp.evil.example/blixit-partners/cascade' }), 'unknown-issuer'],
];

describe('a refused token at the admin API', () => {
  const adminCases: Case[] = [['a wrong admin token', async () => 'test-admin-token-0123456789abcdeX', 'unknown'], ['a token of no known shape', async () => 'zz~not~a~token~zz', 'malformed'], ...forgedJwts];

  it.each(adminCases)('%s: 401, and an access.refused-token record saying why (%s)', async (_name, make, reason) => {
    gh.clock.advance(61_000);
    const token = await make();
    for (const path of [`/admin/v1/namespaces/${NS}/organizations`, `/admin/v1/namespaces/${NS}/organizations/cascade/users`]) {
      const res = await fetch(`${gh.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      const record = await lastRecord('access.refused-token');
      expect(record).toMatchObject({ actor: 'anonymous', outcome: 'refused', data: { method: 'GET', path, reason, address: '127.0.0.1', fingerprint: fingerprint(token) } });
      expect(JSON.stringify(record)).not.toContain(token);
    }
  });

  it('an Authorization header that is not a bearer token is a malformed attempt, named by its fingerprint', async () => {
    gh.clock.advance(61_000);
    const header = `Basic ${Buffer.from('admin:hunter2').toString('base64')}`;
    expect((await fetch(`${gh.url}/admin/v1/namespaces/${NS}/organizations`, { headers: { authorization: header } })).status).toBe(401);
    const record = await lastRecord('access.refused-token');
    expect(record!.data).toMatchObject({ reason: 'malformed', fingerprint: fingerprint(header) });
    expect(JSON.stringify(record)).not.toContain('hunter2');
  });

  it('no Authorization header at all is no attempt: nothing is written', async () => {
    gh.clock.advance(61_000);
    const before = (await gh.store.audit.head())!.seq;
    expect((await fetch(`${gh.url}/admin/v1/namespaces/${NS}/organizations`)).status).toBe(401);
    expect((await gh.store.audit.head())!.seq).toBe(before);
  });

  it('a flood of wrong tokens from one address writes five records, then one with the count when its minute is over', async () => {
    gh.clock.advance(61_000);
    const from = (await gh.store.audit.head())!.seq;
    for (let i = 0; i < 25; i++) {
      expect((await fetch(`${gh.url}/admin/v1/namespaces/${NS}/organizations`, { headers: { authorization: `Bearer wrong-token-${i}-0123456789abcdef` } })).status).toBe(401);
    }
    gh.clock.advance(61_000);
    await gh.gatehouse.refusals.flush();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const written = (await gh.store.audit.query({ after: from, ascending: true, limit: 100 })).filter((r) => r.action.startsWith('access.'));
    expect(written.map((r) => r.action)).toEqual([...Array(5).fill('access.refused-token'), 'access.refusals-suppressed']);
    expect(written[5]!.data).toMatchObject({ kind: 'token', address: '127.0.0.1', suppressed: 20 });
  });
});

describe('a refused token at userinfo', () => {
  it.each(forgedJwts)('%s: 401, and an access.refused-token record of the issuer saying why (%s)', async (_name, make, reason) => {
    gh.clock.advance(61_000);
    const token = await make();
    const res = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    const record = await lastRecord('access.refused-token');
    expect(record).toMatchObject({ namespace: NS, organization: 'cascade', outcome: 'refused', data: { path: '/me', reason, address: '127.0.0.1', fingerprint: fingerprint(token) } });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  it('an opaque token it does not know: reason unknown', async () => {
    gh.clock.advance(61_000);
    const token = 'made-up-opaque-token-0123456789abcdefghij';
    expect((await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    expect((await lastRecord('access.refused-token'))!.data).toMatchObject({ path: '/me', reason: 'unknown', fingerprint: fingerprint(token) });
  });
});

describe('an unregistered redirect_uri at authorization', () => {
  const authorize = (redirectUri: string) => {
    const params = new URLSearchParams({
      client_id: `cascade-web.${NS}`,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirectUri,
      code_challenge: createHash('sha256').update('verifier-0123456789-0123456789-0123456789-0123').digest('base64url'),
      code_challenge_method: 'S256',
    });
    return fetch(`${issuer}/auth?${params}`, { redirect: 'manual' });
  };

  it('is answered with an error page (no redirect there), and an access.refused-redirect-uri record naming the client and the URI', async () => {
    gh.clock.advance(61_000);
    const res = await authorize('https://attacker.example/steal');
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await lastRecord('access.refused-redirect-uri')).toMatchObject({
      actor: 'anonymous',
      namespace: NS,
      organization: 'cascade',
      client: `cascade-web.${NS}`,
      outcome: 'refused',
      data: { path: '/auth', redirectUri: 'https://attacker.example/steal', address: '127.0.0.1' },
    });
  });

  it('a registered redirect_uri writes no such record', async () => {
    gh.clock.advance(61_000);
    const before = (await lastRecord('access.refused-redirect-uri'))!.seq;
    const res = await authorize(CALLBACK);
    expect(res.status).toBeLessThan(400);
    expect((await lastRecord('access.refused-redirect-uri'))!.seq).toBe(before);
  });
});

describe('the chain these records join', () => {
  it('still verifies', async () => {
    expect((await gh.admin('GET', '/admin/v1/audit/verify')).body).toMatchObject({ ok: true });
  });
});
