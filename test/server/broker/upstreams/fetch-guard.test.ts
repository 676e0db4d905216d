/**
 * A URL a partner administrator types (the portal's guided IdP setup) is fetched by the server: only https (http to loopback
 * only where tests and the demo allow it), never a private or reserved address — checked when
 * the socket connects and on every redirect — within a deadline and a size bound.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FetchRefused, guardedFetch, isPrivateAddress } from '../../../../server/broker/upstreams/fetch-guard.ts';
import { OidcUpstreams } from '../../../../server/broker/upstreams/oidc.ts';
import { SamlUpstreams } from '../../../../server/broker/upstreams/saml.ts';
import { connectionEndpoints } from '../../../../server/broker/endpoints.ts';
import { fixedClock } from '../../../../server/clock.ts';
import { SOURCE_ANNOTATION, parseObject, type IdPConnectionObject } from '../../../../api/index.ts';
import { startOidcPeer, type OidcPeer } from '../../../../demo/peers/oidc-idp.ts';
import { startSamlPeer, type SamlPeer } from '../../../../demo/peers/saml-idp.ts';
import { NS, idp } from '../../../support/objects.ts';

let server: Server;
let base: string;
const LOOPBACK = { allowLoopbackHttp: true };

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/ok') return void res.end('hello');
    if (url.pathname === '/big') return void res.end('x'.repeat(64 * 1024));
    if (url.pathname === '/slow') return void setTimeout(() => res.end('late'), 2_000).unref();
    if (url.pathname === '/to') {
      res.statusCode = 302;
      res.setHeader('location', url.searchParams.get('u')!);
      return void res.end();
    }
    if (url.pathname === '/loop') {
      res.statusCode = 302;
      res.setHeader('location', '/loop');
      return void res.end();
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const refused = (url: string, options = {}) => expect(guardedFetch(url, 'text/plain', options)).rejects.toThrow(FetchRefused);

describe('what may be fetched at all', () => {
  it('fetches http on loopback only when the setting allows it (tests, the demo)', async () => {
    await expect(guardedFetch(`${base}/ok`, 'text/plain', LOOPBACK)).resolves.toMatchObject({ status: 200, body: 'hello' });
    await expect(guardedFetch(`${base}/ok`, 'text/plain')).rejects.toThrow(/only https URLs are fetched/);
  });

  it.each([
    ['http to a public host, even with the loopback setting', 'http://example.com/metadata'],
    ['a file URL', 'file:///etc/passwd'],
    ['a gopher URL', 'gopher://127.0.0.1/'],
    ['a URL with credentials', 'https://user:pass@example.com/'],
    ['something that is not a URL', 'not a url'],
  ])('refuses %s', async (_what, url) => {
    await refused(url, LOOPBACK);
  });

  it.each([
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/'],
    ['a private network', 'https://10.0.0.1/'],
    ['another private network', 'https://192.168.1.1/'],
    ['loopback over https', 'https://127.0.0.1:1/'],
    ['IPv6 loopback', 'https://[::1]/'],
    ['an IPv4-mapped IPv6 loopback', 'https://[::ffff:127.0.0.1]/'],
    ['a unique-local IPv6 address', 'https://[fd00::1]/'],
    ['the unspecified address', 'https://0.0.0.0/'],
  ])('never connects to %s', async (_what, url) => {
    await expect(guardedFetch(url, 'text/plain')).rejects.toThrow(/private or reserved address/);
  });

  it('judges a host name by every address it resolves to, when it connects (localhost over https)', async () => {
    await expect(guardedFetch(`https://localhost:${new URL(base).port}/ok`, 'text/plain')).rejects.toThrow(/resolves to .*private or reserved address/);
  });

  it('knows which addresses are private', () => {
    for (const a of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '100.64.0.1', '169.254.1.1', '::1', 'fe80::1', '::ffff:10.0.0.1']) expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    for (const a of ['93.184.216.34', '172.32.0.1', '2606:4700::1111']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });
});

describe('redirects, time and size', () => {
  it('follows a redirect only where the first URL could have gone', async () => {
    await expect(guardedFetch(`${base}/to?u=${encodeURIComponent('/ok')}`, 'text/plain', LOOPBACK)).resolves.toMatchObject({ body: 'hello' });
    await expect(guardedFetch(`${base}/to?u=${encodeURIComponent('https://169.254.169.254/latest/meta-data/')}`, 'text/plain', LOOPBACK)).rejects.toThrow(/private or reserved address/);
    await expect(guardedFetch(`${base}/to?u=${encodeURIComponent('http://10.0.0.1/')}`, 'text/plain', LOOPBACK)).rejects.toThrow(/loopback addresses only/);
    await expect(guardedFetch(`${base}/to?u=${encodeURIComponent('file:///etc/passwd')}`, 'text/plain', LOOPBACK)).rejects.toThrow(/only https/);
  });

  it('stops after a few redirects', async () => {
    await expect(guardedFetch(`${base}/loop`, 'text/plain', LOOPBACK)).rejects.toThrow(/redirects more than 3 times/);
  });

  it('gives up on a slow answer and refuses a large one', async () => {
    await expect(guardedFetch(`${base}/slow`, 'text/plain', { ...LOOPBACK, timeoutMs: 200 })).rejects.toThrow(/did not answer within 0.2 s/);
    await expect(guardedFetch(`${base}/big`, 'text/plain', { ...LOOPBACK, maxBytes: 16 * 1024 })).rejects.toThrow(/more than 16 KiB/);
  });
});

describe('connections set up in the portal: every fetch the upstreams make goes through the guard', () => {
  let oidcPeer: OidcPeer;
  let samlPeer: SamlPeer;
  const clock = fixedClock(new Date().toISOString());
  const noSecrets = { value: async () => undefined };
  const portal = (object: object) => parseObject({ ...object, metadata: { ...(object as { metadata: object }).metadata, annotations: { [SOURCE_ANNOTATION]: 'portal' } } }) as IdPConnectionObject;

  beforeAll(async () => {
    oidcPeer = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 's', redirectUris: ['https://gatehouse.example/cb'], users: [] });
    samlPeer = await startSamlPeer({ users: [] });
  });
  afterAll(async () => {
    await oidcPeer.close();
    await samlPeer.close();
  });

  it('OIDC discovery of a portal connection is refused where a declared one is fetched (http on loopback)', async () => {
    const declared = parseObject(idp('declared-oidc', 'acme', { oidc: { issuer: oidcPeer.url, clientId: 'gatehouse' } })) as IdPConnectionObject;
    const start = (upstream: OidcUpstreams, connection: IdPConnectionObject) => upstream.start({ connection, namespace: NS, endpoints: connectionEndpoints('https://gatehouse.example', NS, connection), loginHint: '' });
    const strict = new OidcUpstreams(clock, noSecrets);
    await expect(start(strict, declared)).resolves.toMatchObject({ ok: true });
    await expect(start(strict, portal(idp('portal-oidc', 'acme', { oidc: { issuer: oidcPeer.url, clientId: 'gatehouse' } })))).resolves.toMatchObject({ ok: false, failure: { reason: 'discovery-failed', message: expect.stringMatching(/only https URLs are fetched/) } });
    // Where loopback http is allowed (tests, the demo), the guard's own fetch serves openid-client.
    await expect(start(new OidcUpstreams(clock, noSecrets, LOOPBACK), portal(idp('portal-oidc', 'acme', { oidc: { issuer: oidcPeer.url, clientId: 'gatehouse' } })))).resolves.toMatchObject({ ok: true });
  });

  it('SAML metadata of a portal connection is fetched through the guard, cached apart from a declared one of the same URL', async () => {
    const saml = (name: string) => idp(name, 'acme', { type: 'saml', oidc: undefined, saml: { metadataUrl: `${samlPeer.url}/metadata` } });
    const strict = new SamlUpstreams(clock);
    await expect(strict.idp(parseObject(saml('declared-saml')) as IdPConnectionObject)).resolves.toMatchObject({ entityId: samlPeer.entityId });
    await expect(strict.idp(portal(saml('portal-saml')))).rejects.toThrow(/only https URLs are fetched/);
    await expect(new SamlUpstreams(clock, undefined, undefined, LOOPBACK).idp(portal(saml('portal-saml')))).resolves.toMatchObject({ entityId: samlPeer.entityId });
  });
});
