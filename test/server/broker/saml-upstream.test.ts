import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inflateRawSync } from 'node:zlib';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, client, idp, organization } from '../../support/objects.ts';
import { ATTR, PEER_KEYS, assertionXml, defaultFields, responseXml, signElement, startSamlPeer, type ResponseFields, type SamlPeer } from '../../../demo/peers/saml-idp.ts';
import { SamlUpstreams } from '../../../server/broker/upstreams/saml.ts';
import { fixedClock } from '../../../server/clock.ts';
import { parseObject, type IdPConnectionObject } from '../../../api/index.ts';
import { CALLBACK, formAction, hiddenFields, resume, startSignIn, submit, text, type Started } from './flow.ts';

let gh: TestServer;
let pinnacleIdp: SamlPeer;
let secret: string;
const issuerOf = (org: string) => `${gh.url}/${NS}/${org}`;
const acs = () => `${issuerOf('pinnacle')}/saml/pinnacle-saml/acs`;
const spEntity = () => `${issuerOf('pinnacle')}/saml/pinnacle-saml/metadata`;
const discover = () => oidc.discovery(new URL(issuerOf('pinnacle')), `pinnacle-web.${NS}`, secret, undefined, { execute: [oidc.allowInsecureRequests] });
const connection = (saml: object) => idp('pinnacle-saml', 'pinnacle', { type: 'saml', oidc: undefined, saml, jit: { enabled: true, defaultRoles: ['shipper'] }, attributeMapping: { email: ATTR.email, name: ATTR.name } });

beforeAll(async () => {
  gh = await startTestServer({ now: new Date().toISOString() });
  pinnacleIdp = await startSamlPeer({ users: [{ email: 'piet@pinnacle.example', password: 'pinnacle-pass', name: 'Piet Pinnacle' }], title: 'Pinnacle ADFS' });
  await gh.put('organizations', organization('pinnacle', { displayName: 'Pinnacle Logistics', branding: { primaryColor: '#0a7d5a' } }));
  await gh.put('idpconnections', connection({ metadataUrl: `${pinnacleIdp.url}/metadata` }));
  await gh.put('clients', client('pinnacle-web', 'pinnacle', { redirectUris: [CALLBACK], scopes: ['openid', 'email', 'profile'] }));
  secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/pinnacle-web/secret`)).body.clientSecret;
});
afterAll(async () => {
  await gh.close();
  await pinnacleIdp.close();
});

/** Up to the partner IdP: what Gatehouse asked for (AuthnRequest ID) and the RelayState it will expect back. */
async function toIdp(): Promise<Started & { requestId: string; relayState: string }> {
  const s = await submit(await startSignIn(await discover()), { email: 'piet@pinnacle.example' });
  const url = new URL(s.url);
  expect(url.origin).toBe(pinnacleIdp.url);
  const request = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString();
  return { ...s, requestId: /ID="([^"]+)"/.exec(request)![1]!, relayState: url.searchParams.get('RelayState')! };
}

async function postToAcs(s: Started, SAMLResponse: string, RelayState: string): Promise<Started> {
  const res = await s.browser.submit(acs(), { SAMLResponse, RelayState });
  if (res.status !== 303) return { ...s, url: acs(), res };
  return resume(s, new URL(res.headers.get('location')!, acs()).href);
}

const fieldsFor = (flow: { requestId: string }, change: Partial<ResponseFields> = {}) =>
  defaultFields({ issuer: pinnacleIdp.entityId, destination: acs(), audience: spEntity(), inResponseTo: flow.requestId, nameId: 'piet@pinnacle.example', attributes: { [ATTR.email]: 'piet@pinnacle.example', [ATTR.name]: 'Piet Pinnacle' }, ...change });
const signed = (f: ResponseFields, keys = PEER_KEYS.pinnacle) => signElement(responseXml(f), f.assertionId, keys);
const b64 = (xml: string) => Buffer.from(xml).toString('base64');

const refusalCount = async () => (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=1000')).body.items.length;

describe('service provider metadata', () => {
  it('is published per connection at a stable URL, and shown in the connection status', async () => {
    const res = await fetch(spEntity());
    const xml = await res.text();
    expect(res.status).toBe(200);
    expect(xml).toContain(`entityID="${spEntity()}"`);
    expect(xml).toContain(`Location="${acs()}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/idpconnections/pinnacle-saml`)).body.status.samlMetadataUrl).toBe(spEntity());
  });
});

describe('SP-initiated SAML sign-in (Pinnacle Logistics)', () => {
  let lastResponse: { SAMLResponse: string; RelayState: string };

  it('signs in at the samlify IdP, provisions the user, and returns tokens naming the organization', async () => {
    const config = await discover();
    let s = await submit(await startSignIn(config), { email: 'piet@pinnacle.example' });
    s = await submit(s, { email: 'piet@pinnacle.example', password: 'pinnacle-pass' });
    const html = await s.res.text();
    if (!html.includes('SAMLResponse')) throw new Error(`IdP answered ${s.res.status} at ${s.url}: ${html.slice(0, 600)}`);
    expect(formAction(html, s.url)).toBe(acs());
    lastResponse = hiddenFields(html) as typeof lastResponse;
    s = await postToAcs(s, lastResponse.SAMLResponse, lastResponse.RelayState);
    expect(s.url.startsWith(CALLBACK)).toBe(true);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(s.url), { pkceCodeVerifier: s.verifier, expectedState: s.state });
    expect(tokens.claims()).toMatchObject({ email: 'piet@pinnacle.example', name: 'Piet Pinnacle', organization_id: 'pinnacle', acr: 'urn:gatehouse:acr:fed', amr: ['fed'] });
    expect(await gh.store.users.findBySubject(NS, 'pinnacle-saml', 'piet@pinnacle.example')).toMatchObject({ organization: 'pinnacle', roles: ['shipper'] });
  });

  it('refuses the same response posted again', async () => {
    const s = await toIdp();
    const replay = await postToAcs(s, lastResponse.SAMLResponse, lastResponse.RelayState);
    expect(replay.res.status).toBe(400);
    expect(await text(replay.res)).toContain('does not match a sign-in in progress');
  });
});

describe('SAML responses that must be refused, each with an audit record and a clear page', () => {
  const wrap = {
    /** A forged, unsigned assertion first; the signed one after it. */
    forgedFirst: (f: ResponseFields, forged: ResponseFields) => {
      const good = signElement(responseXml(f), f.assertionId, PEER_KEYS.pinnacle);
      const signedAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(good)![0];
      return responseXml(f, assertionXml(forged) + signedAssertion);
    },
    /** The signed assertion first, the forged one after it. */
    forgedLast: (f: ResponseFields, forged: ResponseFields) => {
      const good = signElement(responseXml(f), f.assertionId, PEER_KEYS.pinnacle);
      const signedAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(good)![0];
      return responseXml(f, signedAssertion + assertionXml(forged));
    },
    /** The signed assertion hidden inside the forged one's Subject. */
    nested: (f: ResponseFields, forged: ResponseFields) => {
      const good = signElement(responseXml(f), f.assertionId, PEER_KEYS.pinnacle);
      const signedAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(good)![0];
      return responseXml(f, assertionXml(forged).replace('</saml:Subject>', `${signedAssertion}</saml:Subject>`));
    },
    /** The signed assertion tucked into Extensions; the forged one takes its place, with the same ID. */
    extensions: (f: ResponseFields, forged: ResponseFields) => {
      const good = signElement(responseXml(f), f.assertionId, PEER_KEYS.pinnacle);
      const signedAssertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(good)![0];
      return responseXml(f, assertionXml({ ...forged, assertionId: f.assertionId })).replace('<samlp:Status>', `<samlp:Extensions>${signedAssertion}</samlp:Extensions><samlp:Status>`);
    },
  };

  const cases: [string, (flow: { requestId: string }, other: { requestId: string }) => string, string?][] = [
    ['an unsigned assertion', (flow) => responseXml(fieldsFor(flow))],
    ['a signature by another key', (flow) => signed(fieldsFor(flow), PEER_KEYS.rogue)],
    ...Object.entries(wrap).map(([placement, build]): [string, (flow: { requestId: string }) => string] => [`signature wrapping (${placement})`, (flow) => build(fieldsFor(flow), fieldsFor(flow, { nameId: 'boss@pinnacle.example', attributes: { [ATTR.email]: 'boss@pinnacle.example' } }))]),
    [
      'a comment inside the NameID',
      (flow) => {
        const f = fieldsFor(flow, { nameId: 'piet@pinnacle.example.attacker.example', attributes: { [ATTR.email]: 'piet@pinnacle.example.attacker.example' } });
        return signed(f).replace('piet@pinnacle.example.attacker.example</saml:NameID>', 'piet@pinnacle.example<!---->.attacker.example</saml:NameID>');
      },
    ],
    ['a wrong audience', (flow) => signed(fieldsFor(flow, { audience: 'https://another-sp.example/metadata' }))],
    ['a wrong recipient', (flow) => signed(fieldsFor(flow, { recipient: 'https://another-sp.example/acs' }))],
    ['an expired assertion', (flow) => signed(fieldsFor(flow, { notBefore: new Date(Date.now() - 30 * 60_000).toISOString(), notOnOrAfter: new Date(Date.now() - 10 * 60_000).toISOString() }))],
    ['InResponseTo of another request', (_flow, other) => signed(fieldsFor(other))],
    ['a DOCTYPE', (flow) => signed(fieldsFor(flow)).replace('<samlp:Response', '<!DOCTYPE r [<!ENTITY e "piet">]><samlp:Response')],
  ];

  it.each(cases)('refuses %s', async (_label, build) => {
    const other = await toIdp();
    const flow = await toIdp();
    const before = await refusalCount();
    const s = await postToAcs(flow, b64(build(flow, other)), flow.relayState);
    expect([400, 401]).toContain(s.res.status);
    const page = await text(s.res);
    expect(page).toMatch(/Sign-in failed .*(refused|never accepted|addressed to)/);
    expect(page).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
    expect(await refusalCount()).toBe(before + 1);
    expect(await gh.store.users.findBySubject(NS, 'pinnacle-saml', 'boss@pinnacle.example')).toBeUndefined();
  });

  it('refuses a replayed assertion ID, even inside a new, correctly signed response', async () => {
    const first = await toIdp();
    const f = fieldsFor(first);
    const ok = await postToAcs(first, b64(signed(f)), first.relayState);
    expect(ok.url.startsWith(CALLBACK)).toBe(true);
    const second = await toIdp();
    const replay = await postToAcs(second, b64(signed(fieldsFor(second, { assertionId: f.assertionId }))), second.relayState);
    expect(replay.res.status).toBe(401);
    expect(await text(replay.res)).toContain('already used');
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=5')).body.items[0];
    expect(audit.data).toMatchObject({ reason: 'replayed-assertion', connection: 'pinnacle-saml' });
  });
});

describe('IdP metadata by URL', () => {
  it('when unreachable, says so on a clear page, with an audit record', async () => {
    await gh.put('idpconnections', connection({ metadataUrl: 'http://127.0.0.1:9/metadata' }));
    try {
      const s = await submit(await startSignIn(await discover()), { email: 'piet@pinnacle.example' });
      expect(s.res.status).toBe(502);
      expect(await text(s.res)).toContain('IdP metadata could not be fetched');
      const audit = (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=1')).body.items[0];
      expect(audit.data.reason).toBe('metadata-unreachable');
    } finally {
      await gh.put('idpconnections', connection({ metadataUrl: `${pinnacleIdp.url}/metadata` }));
    }
  });

  it('is fetched once for requests that arrive together, and a failure is answered from memory for 30 s', async () => {
    const clock = fixedClock('2026-11-23T09:00:00Z');
    const asked: string[] = [];
    let up = false;
    const upstreams = new SamlUpstreams(clock, async (url) => {
      asked.push(url);
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (!up) throw new Error('connect ETIMEDOUT');
      return pinnacleIdp.metadataXml;
    });
    const declared = parseObject(connection({ metadataUrl: 'https://idp.pinnacle.example/metadata' })) as IdPConnectionObject;

    const together = await Promise.allSettled([upstreams.idp(declared), upstreams.idp(declared), upstreams.idp(declared)]);
    expect(together.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(asked).toHaveLength(1);
    // The partner's IdP comes back, but a hung or failing URL is not asked again on every sign-in.
    up = true;
    clock.advance(29_000);
    await expect(upstreams.idp(declared)).rejects.toThrow('IdP metadata could not be fetched from https://idp.pinnacle.example/metadata (connect ETIMEDOUT); tried again after 30 s.');
    expect(asked).toHaveLength(1);
    clock.advance(2_000);
    expect((await upstreams.idp(declared)).entityId).toBe(pinnacleIdp.entityId);
    expect(asked).toHaveLength(2);
    // Success is cached for its own, longer time.
    await Promise.all([upstreams.idp(declared), upstreams.idp(declared)]);
    expect(asked).toHaveLength(2);
  });

  it('may be declared inline instead', async () => {
    await gh.put('idpconnections', connection({ metadataXml: pinnacleIdp.metadataXml }));
    try {
      const flow = await toIdp();
      const s = await postToAcs(flow, b64(signed(fieldsFor(flow))), flow.relayState);
      expect(s.url.startsWith(CALLBACK)).toBe(true);
    } finally {
      await gh.put('idpconnections', connection({ metadataUrl: `${pinnacleIdp.url}/metadata` }));
    }
  });
});

describe('the Issuer names the IdP the connection declares', () => {
  const ISSUER = (v: string) => `<saml:Issuer>${v}</saml:Issuer>`;
  /** The Response's Issuer comes first in the document; it is outside the assertion's signature. */
  const withResponseIssuer = (xml: string, issuer: string) => xml.replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, ISSUER(issuer));
  const cases: [string, (flow: { requestId: string }) => string][] = [
    ["the assertion's, signed by the right key", (flow) => withResponseIssuer(signed(fieldsFor(flow, { issuer: 'https://other-entity.pinnacle.example' })), pinnacleIdp.entityId)],
    ["the response's", (flow) => withResponseIssuer(signed(fieldsFor(flow)), 'https://other-entity.pinnacle.example')],
    ['both', (flow) => signed(fieldsFor(flow, { issuer: 'https://idp.cascade.example' }))],
    ["the assertion's, a prefix of the right one", (flow) => withResponseIssuer(signed(fieldsFor(flow, { issuer: pinnacleIdp.entityId.slice(0, -1) })), pinnacleIdp.entityId)],
    [
      'the right value with a Format other than entity',
      (flow) => {
        const f = fieldsFor(flow);
        return signElement(responseXml(f, assertionXml(f).replace('<saml:Issuer>', '<saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">')), f.assertionId, PEER_KEYS.pinnacle);
      },
    ],
    ['two Issuers on the response', (flow) => signed(fieldsFor(flow)).replace(/(<saml:Issuer>[^<]*<\/saml:Issuer>)/, `$1${ISSUER('https://idp.cascade.example')}`)],
  ];

  it.each(cases)('refuses a wrong Issuer: %s', async (_label, build) => {
    const flow = await toIdp();
    const before = await refusalCount();
    const s = await postToAcs(flow, b64(build(flow)), flow.relayState);
    expect(s.res.status).toBe(401);
    expect(await text(s.res)).toMatch(/Sign-in failed .*(Issuer|issued by)/);
    expect(await refusalCount()).toBe(before + 1);
    const audit = (await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=1')).body.items[0];
    expect(audit.data).toMatchObject({ reason: 'wrong-issuer', connection: 'pinnacle-saml' });
  });

  it('accepts a response without an Issuer of its own when the signed assertion names the IdP', async () => {
    const flow = await toIdp();
    const s = await postToAcs(flow, b64(signed(fieldsFor(flow)).replace(/<saml:Issuer>[^<]*<\/saml:Issuer>/, '')), flow.relayState);
    expect(s.url.startsWith(CALLBACK)).toBe(true);
  });
});

describe('emails that are not plain addresses', () => {
  const emails = [
    ['a quoted local part naming another partner', '"boss@cascade.example"@pinnacle.example'],
    ['two @', 'boss@cascade.example@pinnacle.example'],
    ['a comment', 'piet(boss@cascade.example)@pinnacle.example'],
    ['whitespace inside', 'piet @pinnacle.example'],
    ['a tab', 'piet\t@pinnacle.example'],
    ['an address literal', 'piet@[10.0.0.1]'],
    ['a trailing dot', 'piet@pinnacle.example.'],
    ['consecutive dots', 'piet..boss@pinnacle.example'],
  ];

  it.each(emails)('refuses %s, provisions nobody and records why', async (_label, email) => {
    const flow = await toIdp();
    const before = await refusalCount();
    const subject = `odd-${Math.random().toString(36).slice(2)}`;
    const f = fieldsFor(flow, { nameId: subject, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes: { [ATTR.email]: email, [ATTR.name]: 'Odd' } });
    const s = await postToAcs(flow, b64(signed(f)), flow.relayState);
    expect(s.res.status).toBe(403);
    expect(await text(s.res)).toContain('not a plain address');
    expect(await refusalCount()).toBe(before + 1);
    expect((await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=1')).body.items[0].data).toMatchObject({ reason: 'invalid-email' });
    expect(await gh.store.users.findBySubject(NS, 'pinnacle-saml', subject)).toBeUndefined();
  });
});

describe('SAMLResponses that cannot be read: 400, a clear page and an audit record, never a 500', () => {
  const xmlOf = (flow: { requestId: string }) => signed(fieldsFor(flow));
  const cases: [string, (flow: { requestId: string }) => string][] = [
    ['empty', () => ''],
    ['not base64', () => 'this is not base64!'],
    ['base64 with a character from outside its alphabet', (flow) => `${b64(xmlOf(flow)).slice(0, 40)}*${b64(xmlOf(flow)).slice(41)}`],
    ['base64 cut short (bad length)', (flow) => b64(xmlOf(flow)).slice(0, -3)],
    ['base64 of text that is not XML', () => b64('hello, I am not XML')],
    ['truncated XML', (flow) => b64(xmlOf(flow).slice(0, 300))],
    ['two root elements', (flow) => b64(`${xmlOf(flow)}<x/>`)],
    ['UTF-16', (flow) => Buffer.from(`\uFEFF${xmlOf(flow)}`, 'utf16le').toString('base64')],
    ['Latin-1 bytes', (flow) => Buffer.from(signed(fieldsFor(flow, { attributes: { [ATTR.email]: 'piet@pinnacle.example', [ATTR.name]: 'Piët' } })), 'latin1').toString('base64')],
    ['an encoding declaration other than UTF-8', (flow) => b64(`<?xml version="1.0" encoding="ISO-8859-1"?>${xmlOf(flow)}`)],
    ['a control character', (flow) => b64(xmlOf(flow).replace('Piet Pinnacle', 'Piet\u0001Pinnacle'))],
    ['a root that is not a protocol Response', (flow) => b64(assertionXml(fieldsFor(flow)))],
    ['larger than 256 KiB', (flow) => b64(xmlOf(flow).replace('</samlp:Response>', `<!--${'x'.repeat(300 * 1024)}--></samlp:Response>`))],
  ];

  it.each(cases)('%s', async (_label, build) => {
    const flow = await toIdp();
    const before = await refusalCount();
    const s = await postToAcs(flow, build(flow), flow.relayState);
    expect(s.res.status).toBe(400);
    expect(s.res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await text(s.res);
    expect(page).toMatch(/Sign-in failed .*SAML/);
    expect(page).not.toMatch(/at .*\.(ts|js):\d+/);
    expect(await refusalCount()).toBe(before + 1);
    expect((await gh.admin('GET', '/admin/v1/audit?action=login.refused&limit=1')).body.items[0].data).toMatchObject({ reason: expect.stringMatching(/^(malformed-response|malformed-xml)$/), connection: 'pinnacle-saml' });
  });

  it('a form larger than the ACS accepts: 413, a clear page and an audit record', async () => {
    const flow = await toIdp();
    const before = await refusalCount();
    const res = await flow.browser.submit(acs(), { SAMLResponse: 'A'.repeat(600 * 1024), RelayState: flow.relayState });
    expect(res.status).toBe(413);
    expect(await text(res)).toContain('larger than 512 KiB');
    expect(await refusalCount()).toBe(before + 1);
  });
});
