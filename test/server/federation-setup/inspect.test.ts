/**
 * What the portal shows after reading an IdP: the entity ID or issuer, its endpoints and its
 * signing certificates with subject and expiry, flagged 30 days ahead and once expired.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startOidcPeer, type OidcPeer } from '../../../demo/peers/oidc-idp.ts';
import { PEER_KEYS, startSamlPeer, type SamlPeer } from '../../../demo/peers/saml-idp.ts';
import { InspectionFailed, inspectOidc, inspectSamlUrl, inspectSamlXml } from '../../../server/federation-setup/inspect.ts';

let oidcPeer: OidcPeer;
let samlPeer: SamlPeer;
const LOOPBACK = { allowLoopbackHttp: true };
const DAY = 86_400_000;
const notAfter = Date.parse(new X509Certificate(PEER_KEYS.pinnacle.cert).validTo);

beforeAll(async () => {
  oidcPeer = await startOidcPeer({ clientId: 'gatehouse', clientSecret: 's', redirectUris: ['https://app.example/cb'], users: [] });
  samlPeer = await startSamlPeer({ users: [] });
});
afterAll(async () => {
  await oidcPeer.close();
  await samlPeer.close();
});

describe('an OpenID Connect issuer', () => {
  it('is read from its discovery document and JWKS', async () => {
    const read = await inspectOidc(oidcPeer.url, LOOPBACK, Date.now());
    expect(read).toMatchObject({ type: 'oidc', entityId: oidcPeer.url, endpoints: { authorization: `${oidcPeer.url}/auth`, token: `${oidcPeer.url}/token`, jwks: `${oidcPeer.url}/jwks` }, keys: [{ kid: 'peer-1', kty: 'RSA', alg: 'RS256', use: 'sig' }] });
    // Public keys only: no key material travels back to the portal.
    expect(JSON.stringify(read)).not.toMatch(/"(d|p|q|n)":/);
  });

  it('must name itself as the issuer it was asked for (OIDC Discovery §4.3)', async () => {
    // A discovery document copied from another IdP: its keys would not be this issuer's.
    const impostor = createServer((_req, res) => res.end(JSON.stringify({ issuer: oidcPeer.url, authorization_endpoint: `${oidcPeer.url}/auth`, jwks_uri: `${oidcPeer.url}/jwks` })));
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
      await expect(inspectOidc(url, LOOPBACK, Date.now())).rejects.toThrow(`The discovery document names the issuer ${oidcPeer.url}, not ${url}: use the issuer it names`);
    } finally {
      impostor.closeAllConnections();
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  it('is not read over http unless the loopback setting allows it', async () => {
    await expect(inspectOidc(oidcPeer.url, {}, Date.now())).rejects.toThrow(/only https URLs are fetched/);
  });
});

describe('SAML metadata', () => {
  it('is read from its URL with the broker’s own parser: entity ID, SSO endpoint, certificates', async () => {
    const read = await inspectSamlUrl(`${samlPeer.url}/metadata`, LOOPBACK, Date.now());
    expect(read).toMatchObject({ type: 'saml', entityId: samlPeer.entityId, endpoints: { singleSignOn: `${samlPeer.url}/sso` }, warnings: [] });
    expect(read.certificates).toEqual([expect.objectContaining({ subject: 'CN=pinnacle-idp (Gatehouse demo and tests only)', status: 'valid', from: 'metadata', notAfter: new Date(notAfter).toISOString() })]);
    expect(read.certificates[0]!.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('warns when a certificate expires within 30 days, and says when none is valid any more', () => {
    const soon = inspectSamlXml(samlPeer.metadataXml, notAfter - 10 * DAY);
    expect(soon.certificates[0]!.status).toBe('expiring');
    expect(soon.warnings).toEqual([expect.stringMatching(/expires on .* \(in (9|10) days\): publish its successor/)]);
    const late = inspectSamlXml(samlPeer.metadataXml, notAfter + DAY);
    expect(late.certificates[0]!.status).toBe('expired');
    expect(late.warnings).toEqual([expect.stringMatching(/expired on/), 'No certificate is valid now: no sign-in through this IdP can succeed.']);
    expect(inspectSamlXml(samlPeer.metadataXml, notAfter - 31 * DAY).warnings).toEqual([]);
  });

  it.each([
    ['not XML', 'hello', /not well-formed XML/],
    ['a DOCTYPE (XXE)', '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', /DOCTYPE/],
    ['metadata without an IdP', '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>', /no EntityDescriptor with an IDPSSODescriptor/],
  ])('refuses %s, naming the field', (_what, xml, message) => {
    let caught: unknown;
    try {
      inspectSamlXml(xml, Date.now());
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InspectionFailed);
    expect(caught).toMatchObject({ field: 'metadataXml', message: expect.stringMatching(message) });
  });
});
