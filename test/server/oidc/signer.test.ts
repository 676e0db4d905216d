// LocalSigningKey: an issuer's key signs for oidc-provider, which never holds the private half.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import * as oidc from 'openid-client';
import { CompactSign, compactVerify, createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type { SigningAlg } from '../../../server/oidc/keys.ts';
import { LocalSigningKey } from '../../../server/oidc/signer.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, organization, workspace } from '../../support/objects.ts';

const ALGS: SigningAlg[] = ['ES256', 'EdDSA', 'RS256'];

function privateJwk(alg: SigningAlg): Record<string, unknown> {
  const pair: { privateKey: KeyObject } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return pair.privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
}

describe('LocalSigningKey', () => {
  it.each(ALGS)('makes %s signatures that the public key verifies as a JWS', async (alg) => {
    const jwk = privateJwk(alg);
    const key = new LocalSigningKey(jwk, 'k1', alg);
    const header = { alg, kid: 'k1' };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}`;
    const signature = Buffer.from(await key.sign(Buffer.from(input))).toString('base64url');
    const { payload } = await compactVerify(`${input}.${signature}`, key.keyObject());
    expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ sub: 'x' });
    // Byte for byte the JWS format jose makes itself (ECDSA as r‖s, 64 bytes; not DER).
    const reference = await new CompactSign(Buffer.from('{"sub":"x"}')).setProtectedHeader(header).sign(await importJWK({ ...jwk, alg } as never, alg));
    expect(Buffer.from(signature, 'base64url').length).toBe(Buffer.from(reference.split('.')[2]!, 'base64url').length);
  });

  it('shows the provider its public half only, however it is read', async () => {
    const jwk = privateJwk('ES256');
    const key = new LocalSigningKey(jwk, 'k1', 'ES256');
    expect(key.keyObject().type).toBe('public');
    expect(key.keyObject().export({ format: 'jwk' })).not.toHaveProperty('d');
    expect({ kid: key.kid, alg: key.alg, use: key.use, kty: key.kty, crv: key.crv, x: key.x, y: key.y }).toEqual({ kid: 'k1', alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y });
    for (const shown of [inspect(key, { showHidden: true, depth: 10 }), JSON.stringify(key), String(key)]) expect(shown).not.toContain(String(jwk.d));
  });

  it('refuses a private JWK that is not one', () => {
    expect(() => new LocalSigningKey({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, 'k1', 'ES256')).toThrow();
  });
});

describe("an issuer's tokens, for each signing algorithm a workspace may choose", () => {
  let gh: TestServer;
  let secret: string;
  const INVENTORY = 'https://inventory.example';
  const insecure = { execute: [oidc.allowInsecureRequests] };

  beforeAll(async () => {
    gh = await startTestServer();
    await gh.put('workspaces', workspace());
    await gh.put('organizations', organization('forge'));
    await gh.put('clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [INVENTORY] }));
    await gh.put('accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }));
    secret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-sync/secret`)).body.clientSecret;
  });
  afterAll(async () => {
    await gh.close();
  });

  it.each(ALGS)('%s: the access token verifies against the published JWKS, which holds no private member, and introspects as active', async (alg) => {
    await gh.put('workspaces', workspace({ signingAlgorithm: alg }));
    const config = await oidc.discovery(new URL(`${gh.url}/${NS}/forge`), `forge-sync.${NS}`, secret, undefined, insecure);
    const token = (await oidc.clientCredentialsGrant(config, { scope: 'inventory:read' })).access_token;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg, typ: 'at+jwt' });
    const jwksUri = new URL(config.serverMetadata().jwks_uri!);
    const { payload } = await jwtVerify(token, createRemoteJWKSet(jwksUri), { issuer: `${gh.url}/${NS}/forge`, audience: INVENTORY });
    expect(payload).toMatchObject({ organization_id: 'forge', scope: 'inventory:read' });
    const published = (await (await fetch(jwksUri)).json()) as { keys: Record<string, unknown>[] };
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(published.keys.some((k) => member in k)).toBe(false);
    expect(await oidc.tokenIntrospection(config, token)).toMatchObject({ active: true, organization_id: 'forge' });
  });
});
