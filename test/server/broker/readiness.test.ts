import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { PEER_KEYS, startSamlPeer, type SamlPeer } from '../../../demo/peers/saml-idp.ts';
import { NS, idp, organization } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';

/**
 * GET …/idpconnections/{name} says whether the connection can sign anybody in now, as the
 * server-computed `ConnectionReady` condition (the controller owns `Ready`).
 */
let gh: TestServer;
let peer: SamlPeer;
const SECRET_VALUE = 'forge-upstream-secret-value-9f3c';
const CERT = PEER_KEYS.pinnacle.cert;
const base = `/admin/v1/namespaces/${NS}`;

type Condition = { type: string; status: string; reason: string; message: string; lastTransitionTime: string; observedGeneration?: number };
const conditionsOf = (body: { status?: { conditions?: Condition[] } }) => body.status?.conditions ?? [];
async function connectionReady(name: string): Promise<Condition & { raw: string }> {
  const res = await gh.admin('GET', `${base}/idpconnections/${name}`);
  expect(res.status).toBe(200);
  const found = conditionsOf(res.body).filter((c) => c.type === 'ConnectionReady');
  expect(found).toHaveLength(1);
  return { ...found[0]!, raw: JSON.stringify(res.body) };
}
const oidcConnection = (name: string, ref?: { name: string; key: string }) => idp(name, 'forge', { oidc: { issuer: 'https://sso.forge.example', clientId: 'gatehouse', ...(ref ? { clientSecretRef: ref } : {}) } });
const samlConnection = (name: string, saml: object) => idp(name, 'forge', { type: 'saml', oidc: undefined, saml });
const closedPort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  // The demo certificate is fresh: the clock starts at the real now.
  gh = await startTestServer({ now: new Date().toISOString() });
  peer = await startSamlPeer({ users: [], title: 'Forge ADFS' });
  await gh.put('organizations', organization('forge'));
});
afterAll(async () => {
  await gh.close();
  await peer.close();
});

describe('an OIDC connection', () => {
  it('is Pending until its client secret is delivered, naming the secret and key', async () => {
    await gh.put('idpconnections', oidcConnection('forge-oidc', { name: 'forge-oidc', key: 'client-secret' }));
    const c = await connectionReady('forge-oidc');
    expect(c).toMatchObject({ status: 'False', reason: 'Pending', observedGeneration: 1 });
    expect(c.message).toContain('forge-oidc');
    expect(c.message).toContain('client-secret');
    expect(c.message).toContain(`PUT /admin/v1/namespaces/${NS}/secrets/forge-oidc`);
  });

  it('is Pending when the secret lacks the key, naming the keys it has but no value', async () => {
    expect((await gh.admin('PUT', `${base}/secrets/forge-oidc`, { data: { 'wrong-key': SECRET_VALUE } })).status).toBe(201);
    const c = await connectionReady('forge-oidc');
    expect(c).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(c.message).toContain('has no key client-secret (it has wrong-key)');
    expect(c.raw).not.toContain(SECRET_VALUE);
  });

  it('is Ready once the referenced key is there, and never shows the value', async () => {
    expect((await gh.admin('PUT', `${base}/secrets/forge-oidc`, { data: { 'client-secret': SECRET_VALUE } })).status).toBe(200);
    const c = await connectionReady('forge-oidc');
    expect(c).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(c.raw).not.toContain(SECRET_VALUE);
    const list = await gh.admin('GET', `${base}/idpconnections`);
    expect(JSON.stringify(list.body)).not.toContain(SECRET_VALUE);
    expect(conditionsOf(list.body.items.find((o: { metadata: { name: string } }) => o.metadata.name === 'forge-oidc'))).toEqual([expect.objectContaining({ type: 'ConnectionReady', status: 'True' })]);
  });

  it('goes back to Pending when the secret is deleted', async () => {
    expect((await gh.admin('DELETE', `${base}/secrets/forge-oidc`)).status).toBe(200);
    expect(await connectionReady('forge-oidc')).toMatchObject({ status: 'False', reason: 'Pending' });
  });

  it('is Ready without a secret reference (a public client)', async () => {
    await gh.put('idpconnections', oidcConnection('forge-public'));
    expect(await connectionReady('forge-public')).toMatchObject({ status: 'True', reason: 'Ready' });
  });

  it("leaves the controller's Ready alone, and keeps lastTransitionTime while the verdict holds", async () => {
    const first = await gh.admin('GET', `${base}/idpconnections/forge-public`);
    const controllerReady = { type: 'Ready', status: 'True', reason: 'Reconciled', message: 'applied', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: 1 };
    // A controller echoes what it read, with its own Ready set.
    const echoed = { observedGeneration: 1, conditions: [...conditionsOf(first.body), controllerReady] };
    expect((await gh.admin('PUT', `${base}/idpconnections/forge-public/status`, echoed)).status).toBe(200);
    const since = conditionsOf(first.body)[0]!.lastTransitionTime;
    gh.clock.advance(3_600_000);
    const later = await gh.admin('GET', `${base}/idpconnections/forge-public`);
    const conditions = conditionsOf(later.body);
    expect(conditions.find((c) => c.type === 'Ready')).toEqual(controllerReady);
    expect(conditions.filter((c) => c.type === 'ConnectionReady')).toEqual([expect.objectContaining({ status: 'True', lastTransitionTime: since })]);
  });
});

describe('a SAML connection', () => {
  it('is Ready with a parsable, current certificate', async () => {
    await gh.put('idpconnections', samlConnection('forge-saml', { entityId: 'https://adfs.forge.example', ssoUrl: 'https://adfs.forge.example/sso', certificate: CERT }));
    const c = await connectionReady('forge-saml');
    expect(c).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(c.message).toContain('https://adfs.forge.example');
  });

  it('is Invalid with a certificate that is PEM-shaped but not a certificate', async () => {
    await gh.put('idpconnections', samlConnection('forge-bad-cert', { entityId: 'https://adfs.forge.example', ssoUrl: 'https://adfs.forge.example/sso', certificate: '-----BEGIN CERTIFICATE-----\nTUlJQm9ndXM=\n-----END CERTIFICATE-----' }));
    const c = await connectionReady('forge-bad-cert');
    expect(c).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(c.message).toContain('not a parsable X.509 certificate');
  });

  it('is Invalid when the metadata has no IdP descriptor', async () => {
    await gh.put('idpconnections', samlConnection('forge-bad-metadata', { metadataXml: '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>' }));
    const c = await connectionReady('forge-bad-metadata');
    expect(c).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(c.message).toContain('no EntityDescriptor with an IDPSSODescriptor');
  });

  it('is Ready from metadata served at its URL, and from the same metadata inline', async () => {
    await gh.put('idpconnections', samlConnection('forge-metadata-url', { metadataUrl: `${peer.url}/metadata` }));
    expect(await connectionReady('forge-metadata-url')).toMatchObject({ status: 'True', reason: 'Ready', message: expect.stringContaining(peer.entityId) });
    await gh.put('idpconnections', samlConnection('forge-metadata-xml', { metadataXml: peer.metadataXml }));
    expect(await connectionReady('forge-metadata-xml')).toMatchObject({ status: 'True', reason: 'Ready' });
  });

  it('is Pending while its metadata URL does not answer', async () => {
    await gh.put('idpconnections', samlConnection('forge-metadata-down', { metadataUrl: `http://127.0.0.1:${await closedPort()}/metadata` }));
    const c = await connectionReady('forge-metadata-down');
    expect(c).toMatchObject({ status: 'False', reason: 'Pending' });
    expect(c.message).toContain('could not be fetched');
  });

  it('is Invalid once its only certificate has expired', async () => {
    gh.clock.set('2037-01-01T00:00:00Z');
    const c = await connectionReady('forge-saml');
    expect(c).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(c.message).toMatch(/expired at 2036-/);
  });
});

describe('a directory connection', () => {
  it('is always Ready', async () => {
    await gh.put('idpconnections', idp('forge-directory', 'forge', { type: 'directory', oidc: undefined }));
    expect(await connectionReady('forge-directory')).toMatchObject({ status: 'True', reason: 'Ready' });
  });
});
