// LocalSigningKey: an issuer's key signs for oidc-provider, which never holds the private half.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import * as oidc from 'openid-client';
import { CompactSign, compactVerify, createRemoteJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type { SigningAlg } from '../../../server/oidc/keys.ts';
import { LocalSigningKey, joseSignature } from '../../../server/oidc/signer.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, organization, workspace } from '../../support/objects.ts';

const ALGS: SigningAlg[] = ['ES256', 'EdDSA', 'RS256'];

function privateJwk(alg: SigningAlg): Record<string, unknown> {
  const pair: { privateKey: KeyObject } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
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

describe('joseSignature', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('turns DER into r‖s for every r and s, the short ones (high bits zero) and the padded ones (high bit set) too', () => {
    const lengths = new Set<number>();
    for (let i = 0; i < 600; i++) {
      const data = Buffer.from(`message ${i}`);
      const der = sign('sha256', data, privateKey);
      lengths.add(der[3]!); // r's length in the DER: 33 with a sign byte, 32, or fewer
      const jose = joseSignature(der, 32);
      expect(jose.length).toBe(64);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
    }
    expect(lengths.has(33) && lengths.has(32)).toBe(true);
    // r = 5 and s = 0x80 (a sign byte before it): each right-aligned in its 32 bytes.
    const small = joseSignature(Buffer.from([0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x02, 0x00, 0x80]), 32);
    expect(small).toEqual(Buffer.concat([Buffer.alloc(31), Buffer.from([5]), Buffer.alloc(31), Buffer.from([0x80])]));
  });

  it('refuses what is not a DER ECDSA signature of that size', () => {
    const der = sign('sha256', Buffer.from('x'), privateKey);
    for (const bad of [der.subarray(0, der.length - 1), Buffer.concat([der, Buffer.from([0])]), Buffer.from([0x31, ...der.subarray(1)]), Buffer.alloc(0), Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x03, 0x01, 0x01])]) {
      expect(() => joseSignature(bad, 32)).toThrow('not a DER ECDSA signature');
    }
    expect(() => joseSignature(der, 16)).toThrow('not a DER ECDSA signature');
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
