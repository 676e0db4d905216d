import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import * as oidc from 'openid-client';
import { jsonLogger } from '../../../server/log.ts';
import { pollUntil } from '../../support/eventually.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, forgeAndCascade, organization } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';

const PASSWORD = 'correct horse battery staple';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const insecure = { execute: [oidc.allowInsecureRequests] };
let gh: TestServer;
const secrets: Record<string, string> = {};
let written = '';
/** Every line the server logged, at debug level and up: the strictest case for what must never appear. */
const logLines = () =>
  written
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const linesOf = (requestId: string) => logLines().filter((l) => l.requestId === requestId);

async function tokenRequest(requestId: string | undefined, secret = secrets['forge-sync']!): Promise<Response> {
  return fetch(`${gh.url}/${NS}/forge/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      ...(requestId ? { 'x-request-id': requestId } : {}),
    },
    body: 'grant_type=client_credentials&scope=inventory%3Aread',
  });
}

async function auditWith(requestId: string): Promise<{ action: string; data: Record<string, unknown> }[]> {
  const { items } = (await gh.admin('GET', '/admin/v1/audit?limit=500')).body as { items: { action: string; data: Record<string, unknown> }[] };
  return items.filter((r) => r.data.requestId === requestId);
}

beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written += chunk.toString();
      done();
    },
  });
  gh = await startTestServer({ logger: jsonLogger({ level: 'debug', stream }), now: new Date().toISOString() });
  for (const [plural, object] of forgeAndCascade(CALLBACK, ['openid', 'email', 'offline_access'])) await gh.put(plural, object);
  for (const name of ['forge-sync', 'cascade-portal']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  await setPassword(gh, 'ana', PASSWORD);
});
afterAll(async () => {
  await gh.close();
});

describe('request ids', () => {
  it('keeps a well-formed X-Request-Id, echoes it, and puts it in the audit record of the token it issued', async () => {
    await tokenRequest(undefined); // builds the issuer, so the next request takes the direct path
    const res = await tokenRequest('req-7f3a.42:proxy');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-7f3a.42:proxy');
    expect((await auditWith('req-7f3a.42:proxy')).map((r) => r.action)).toEqual(['token.issued']);
  });

  it('replaces a malformed or oversized X-Request-Id with a fresh UUID', async () => {
    for (const given of ['two words', 'a"quote', 'x'.repeat(129), 'line\tbreak']) {
      const res = await tokenRequest(given);
      const id = res.headers.get('x-request-id')!;
      expect(id).toMatch(UUID);
      expect(await auditWith(given)).toEqual([]);
      expect((await auditWith(id)).map((r) => r.action)).toEqual(['token.issued']);
    }
  });

  it('gives a request without one a UUID', async () => {
    const res = await fetch(`${gh.url}/healthz`);
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('puts the id of an admin change in the audit record of that change', async () => {
    const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/pinnacle`, organization('pinnacle'), { 'x-request-id': 'admin-change-1' });
    expect(res.status).toBe(201);
    expect((await auditWith('admin-change-1')).map((r) => r.action)).toEqual(['Organization.created']);
  });

  it('leaves the audit chain verifying, records with request ids included', async () => {
    const res = await gh.admin('GET', '/admin/v1/audit/verify');
    expect(res.body).toMatchObject({ ok: true });
  });
});

describe('request log', () => {
  it('writes one JSON line per request: its id, method, path without the query, status and duration', async () => {
    await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations?hint=query-text`, undefined, { 'x-request-id': 'list-1' });
    const lines = linesOf('list-1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'request', service: 'gatehouse', method: 'GET', path: `/admin/v1/namespaces/${NS}/organizations`, status: 200 });
    expect(typeof lines[0]!.ms).toBe('number');
    expect(typeof lines[0]!.time).toBe('string');
    expect(written).not.toContain('query-text');
  });

  it('logs answers of the endpoints called at volume (a token issued, discovery) at debug level only, a refusal at info', async () => {
    await tokenRequest('token-ok');
    await tokenRequest('token-refused', 'not-the-secret');
    await fetch(`${gh.url}/${NS}/forge/.well-known/openid-configuration`, { headers: { 'x-request-id': 'discovery-1' } });
    expect(linesOf('token-ok').map((l) => [l.level, l.status])).toEqual([['debug', 200]]);
    expect(linesOf('token-refused').map((l) => [l.level, l.status])).toEqual([['info', 401]]);
    expect(linesOf('discovery-1').map((l) => [l.level, l.path])).toEqual([['debug', `/${NS}/forge/.well-known/openid-configuration`]]);
  });

  it('writes the line of a request whose client went away before the answer, marked aborted, and nothing outside the log', async () => {
    // Koa's own error listener would print the parser's "Parse Error" stack to stderr.
    const printed = jest.spyOn(console, 'error');
    const { port } = new URL(gh.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    // Headers and part of a body the admin API waits for, then gone.
    socket.write(`PUT /admin/v1/namespaces/${NS}/organizations/gone HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${gh.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\nx-request-id: gone-1\r\n\r\n{"apiVersion"`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const requestLine = () => linesOf('gone-1').find((l) => l.msg === 'request');
    expect(await pollUntil(requestLine, 2000, () => written)).toMatchObject({ level: 'info', method: 'PUT', aborted: true });
    const wentAway = await pollUntil(
      () => logLines().find((l) => typeof l.msg === 'string' && l.msg.includes('the client went away')),
      2000,
      () => written,
    );
    expect(wentAway).toMatchObject({ level: 'debug', msg: expect.stringContaining(`PUT /admin/v1/namespaces/${NS}/organizations/gone`) });
    expect(printed).not.toHaveBeenCalled();
    printed.mockRestore();
  });

  it('never contains a password, a client secret or a token of a sign-in and token flow', async () => {
    const tokens = await signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email: 'ana@cascade.example', password: PASSWORD }, 'openid email');
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/forge`), `forge-sync.${NS}`, secrets['forge-sync']!, undefined, insecure);
    const m2m = await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' });
    await expect(signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email: 'ana@cascade.example', password: `${PASSWORD} wrong` })).rejects.toThrow();
    expect(logLines().length).toBeGreaterThan(10);
    for (const [what, secret] of Object.entries({ password: PASSWORD, 'client secret': secrets['cascade-portal']!, 'm2m client secret': secrets['forge-sync']!, 'access token': tokens.access_token, 'id token': tokens.id_token!, 'm2m access token': m2m.access_token })) {
      if (written.includes(secret)) throw new Error(`the log contains the ${what}`);
    }
  });
});
