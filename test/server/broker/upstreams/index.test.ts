/**
 * The broker's upstreams, one per connection type, behind one interface. `directory` has
 * none: its password form is oidc-provider's interaction, with no round trip to answer.
 * What each upstream does against a real IdP is in ../oidc-upstream.test.ts and
 * ../saml-upstream.test.ts; here, what each refuses before any IdP is asked.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseObject, type IdPConnectionObject } from '../../../../api/index.ts';
import { connectionEndpoints } from '../../../../server/broker/endpoints.ts';
import { UpstreamSecrets } from '../../../../server/broker/secrets.ts';
import { createUpstreams, isUpstreamType, type Upstreams } from '../../../../server/broker/upstreams/index.ts';
import { SamlUpstreams } from '../../../../server/broker/upstreams/saml.ts';
import { fixedClock } from '../../../../server/clock.ts';
import { Sealer } from '../../../../server/secrets/sealer.ts';
import { openStore, type Store } from '../../../../server/store/index.ts';
import { NS, idp } from '../../../support/objects.ts';
import { temporaryDirectories } from '../../../support/temp-dirs.ts';

const tempDir = temporaryDirectories('gatehouse-upstreams-');
const clock = fixedClock('2026-11-23T09:00:00Z');
const forge = parseObject(idp('forge-oidc', 'forge', { oidc: { issuer: 'https://idp.forge.example', clientId: 'gatehouse', clientSecretRef: { name: 'forge-oidc', key: 'client-secret' } } })) as IdPConnectionObject;
const endpoints = connectionEndpoints('https://gatehouse.example', NS, forge);
let store: Store;
let upstreams: Upstreams;

beforeAll(async () => {
  store = await openStore({ dataDir: await tempDir() });
  const secrets = new UpstreamSecrets({ store, sealer: new Sealer('upstreams-spec-secret-0123456789abcdefghijkl'), clock });
  upstreams = createUpstreams({ clock, store, secrets });
});
afterAll(async () => store.close());

describe('the upstream factory', () => {
  it('has one upstream per federated connection type, answering to its type', () => {
    expect(Object.keys(upstreams).sort()).toEqual(['oidc', 'saml']);
    for (const [type, upstream] of Object.entries(upstreams)) expect(upstream.type).toBe(type);
  });

  it.each([
    ['oidc', true],
    ['saml', true],
    ['directory', false],
    ['toString', false],
    ['__proto__', false],
  ])('knows %s as an upstream type: %s', (type, known) => {
    expect(isUpstreamType(type)).toBe(known);
  });
});

describe('the OIDC upstream', () => {
  it('does not start while the declared client secret is not delivered (secret-missing), naming no secret', async () => {
    const started = await upstreams.oidc.start({ connection: forge, namespace: NS, endpoints, loginHint: 'omar@forge.example' });
    expect(started).toEqual({ ok: false, failure: { reason: 'secret-missing', message: expect.stringContaining('its client secret has not been delivered') } });
  });

  it("turns the IdP's own error into idp-error, its code kept apart and bounded", async () => {
    const params = new URLSearchParams({ error: `access_denied${'x'.repeat(200)}`, error_description: 'The user cancelled.', state: 's' });
    const finished = await upstreams.oidc.finish({ connection: forge, namespace: NS, endpoints, expected: { codeVerifier: 'v', nonce: 'n', state: 's', redirectUri: endpoints.redirectUri }, params });
    expect(finished).toEqual({ ok: false, failure: { reason: 'idp-error', code: `access_denied${'x'.repeat(51)}`, message: 'Your identity provider refused the sign-in: The user cancelled..' } });
  });
});

describe('the SAML upstream', () => {
  it('refuses an empty SAMLResponse as malformed-response before any IdP is asked', async () => {
    const saml = new SamlUpstreams(clock);
    const connection = { ...forge, spec: { ...forge.spec, type: 'saml', saml: { entityId: 'https://idp.example', ssoUrl: 'https://idp.example/sso', certificate: 'unused' } } } as IdPConnectionObject;
    const finished = await saml.finish({ connection, namespace: NS, endpoints, expected: { requestId: '_r' }, params: new URLSearchParams({ SAMLResponse: '', RelayState: 'r' }) });
    expect(finished).toMatchObject({ ok: false, failure: { reason: 'malformed-response' } });
  });
});
