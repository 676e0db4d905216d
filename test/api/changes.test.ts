import { describe, expect, it } from '@jest/globals';
import { REDACTED, diff, redact } from '../../api/index.ts';

describe('field changes (audit records and gatehouse plan)', () => {
  it('shows the lifetimes, token kinds and exchange rules whose names say "token": they are settings, not secrets', () => {
    expect(diff({ spec: { tokens: { accessToken: '30m' } } }, { spec: { tokens: { accessToken: '20m' } } })).toEqual([{ path: 'spec.tokens.accessToken', before: '30m', after: '20m' }]);
    expect(diff({ guardrails: { maxRefreshToken: '30d' } }, { guardrails: { maxRefreshToken: '7d' } })).toEqual([{ path: 'guardrails.maxRefreshToken', before: '30d', after: '7d' }]);
    expect(diff({ claims: [{ tokens: ['id'] }] }, { claims: [{ tokens: ['access'] }] })).toEqual([{ path: 'claims', before: [{ tokens: ['id'] }], after: [{ tokens: ['access'] }] }]);
    expect(redact({ tokenExchange: { actors: ['a'] } })).toEqual({ tokenExchange: { actors: ['a'] } });
  });

  it('redacts values under secret-looking keys, at any depth, and keeps references to secrets', () => {
    expect(diff({ annotations: { 'vendor.example/api-token': 'old' } }, { annotations: { 'vendor.example/api-token': 'new' } })).toEqual([{ path: 'annotations.vendor.example/api-token', before: REDACTED, after: REDACTED }]);
    expect(redact({ oidc: { clientSecret: 's3cret', clientSecretRef: { name: 'forge', key: 'secret' } }, password: 'pw' })).toEqual({
      oidc: { clientSecret: REDACTED, clientSecretRef: { name: 'forge', key: 'secret' } },
      password: REDACTED,
    });
  });
});
