/**
 * How openid-client's and jose's refusals become the broker's typed reasons (the `reason`
 * of `login.refused`, and the page's status). The errors are the libraries' own, raised by
 * checking real tokens and authorization responses offline; the library code is kept beside
 * the reason. The sign-in flows themselves are in ../oidc-upstream.test.ts.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import * as client from 'openid-client';
import { SignJWT, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { oidcReason } from '../../../../server/broker/upstreams/oidc.ts';
import { UPSTREAM_FAILURE_REASONS, UpstreamError, attempt } from '../../../../server/broker/upstreams/upstream.ts';

const ISSUER = 'https://idp.forge.example';
const NOW = 1_800_000_000;
let key: CryptoKey;
let other: CryptoKey;
let publicKey: CryptoKey;

beforeAll(async () => {
  ({ privateKey: key, publicKey } = await generateKeyPair('ES256'));
  ({ privateKey: other } = await generateKeyPair('ES256'));
});

const token = (claims: Record<string, unknown>, signer = key) => new SignJWT({ sub: 'omar', iss: ISSUER, aud: 'gatehouse', iat: NOW - 60, exp: NOW + 300, nonce: 'n', ...claims }).setProtectedHeader({ alg: 'ES256' }).sign(signer);

async function refusalOf(jwt: Promise<string>): Promise<unknown> {
  try {
    await jwtVerify(await jwt, publicKey, { issuer: ISSUER, audience: 'gatehouse', currentDate: new Date(NOW * 1000), requiredClaims: ['sub', 'exp', 'iat', 'nonce'] });
  } catch (error) {
    return error;
  }
  throw new Error('the token was accepted');
}

async function authorizationRefusal(callback: string): Promise<unknown> {
  const config = new client.Configuration({ issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize`, token_endpoint: `${ISSUER}/token`, authorization_response_iss_parameter_supported: true }, 'gatehouse', undefined, client.None());
  try {
    await client.authorizationCodeGrant(config, new URL(callback), { expectedState: 'the-state', pkceCodeVerifier: 'v'.repeat(43) });
  } catch (error) {
    return error;
  }
  throw new Error('the response was accepted');
}

describe('an ID token refused by jose', () => {
  it.each([
    ['expired', { exp: NOW - 120 }, 'expired', 'ERR_JWT_EXPIRED'],
    ['for another client', { aud: 'someone-else' }, 'wrong-audience', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['from another issuer', { iss: 'https://evil.example' }, 'wrong-issuer', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['not yet valid', { nbf: NOW + 600 }, 'expired', 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
  ])('%s is %s', async (_what, claims, reason, code) => {
    const error = await refusalOf(token(claims));
    expect((error as { code: string }).code).toBe(code);
    expect(oidcReason(error)).toBe(reason);
  });

  it('signed by another key is invalid-signature', async () => {
    expect(oidcReason(await refusalOf(token({}, other)))).toBe('invalid-signature');
  });
});

describe('an authorization response refused by openid-client', () => {
  it('naming another IdP in iss (mix-up, RFC 9207) is wrong-issuer', async () => {
    expect(oidcReason(await authorizationRefusal(`https://gatehouse.example/cb?code=c&state=the-state&iss=${encodeURIComponent('https://evil.example')}`))).toBe('wrong-issuer');
  });

  it('with another state is state-mismatch', async () => {
    expect(oidcReason(await authorizationRefusal(`https://gatehouse.example/cb?code=c&state=forged&iss=${encodeURIComponent(ISSUER)}`))).toBe('state-mismatch');
  });

  it('an OAuth error from the token endpoint is token-refused', () => {
    expect(oidcReason(Object.assign(new Error('invalid_grant'), { error: 'invalid_grant' }))).toBe('token-refused');
  });

  it('anything else is upstream-refused, never the raw code', () => {
    for (const error of [new Error('socket hang up'), Object.assign(new Error('x'), { code: 'OAUTH_PARSE_ERROR' }), Object.assign(new Error('x'), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: '__proto__' }), 'a string']) {
      expect(oidcReason(error)).toBe('upstream-refused');
    }
  });
});

describe('an upstream failure', () => {
  it('keeps the reason, the message and the code', async () => {
    expect(
      await attempt(async () => {
        throw new UpstreamError('expired', 'The ID token has expired.', 'ERR_JWT_EXPIRED');
      }),
    ).toEqual({ ok: false, failure: { reason: 'expired', message: 'The ID token has expired.', code: 'ERR_JWT_EXPIRED' } });
  });

  it('lets any other error through: a bug is not a refusal', async () => {
    await expect(
      attempt(async () => {
        throw new TypeError('bug');
      }),
    ).rejects.toThrow('bug');
  });

  it('is one of a closed list of reasons', () => {
    expect(new Set(UPSTREAM_FAILURE_REASONS).size).toBe(UPSTREAM_FAILURE_REASONS.length);
    for (const r of UPSTREAM_FAILURE_REASONS) expect(r).toMatch(/^[a-z]+(-[a-z0-9]+)*$/);
  });
});
