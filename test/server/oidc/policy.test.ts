import { describe, expect, it } from '@jest/globals';
import { parseObject, type OrganizationObject } from '../../../api/index.ts';
import { refreshLifetime } from '../../../server/oidc/lifetimes.ts';
import { standingOf } from '../../../server/oidc/standing.ts';
import { tokenClaims } from '../../../server/oidc/claims.ts';
import { NS, organization } from '../../support/objects.ts';

const org = (name: string, spec: object = {}) => parseObject(organization(name, spec), { defaultNamespace: NS }) as OrganizationObject;
const NOW = Date.parse('2026-11-23T09:00:00Z');

describe('token lifetimes', () => {
  it('cut refresh tokens at the end of the contract', () => {
    const lifetimes = { accessToken: 900, idToken: 900, refreshToken: 86400 };
    expect(refreshLifetime(lifetimes, '2026-11-23T10:00:00Z', NOW)).toBe(3600);
    expect(refreshLifetime(lifetimes, '2027-01-01T00:00:00Z', NOW)).toBe(86400);
    expect(refreshLifetime(lifetimes, '2026-11-01T00:00:00Z', NOW)).toBe(0);
  });
});

describe('standing of an organization', () => {
  it('is active within its contract and not suspended', () => {
    expect(standingOf([org('a')], NOW)).toEqual({ active: true });
  });
  it('ends with the contract, to the millisecond', () => {
    const a = org('a', { contract: { id: 'c', partnerType: 'vendor', owner: 'o@b.example', endsAt: '2026-11-23T09:00:00Z' } });
    expect(standingOf([a], NOW)).toMatchObject({ active: false, reason: 'contract-ended' });
    expect(standingOf([a], NOW - 1)).toEqual({ active: true });
  });
  it('has not begun before the contract starts', () => {
    const a = org('a', { contract: { id: 'c', partnerType: 'vendor', owner: 'o@b.example', startsAt: '2027-01-01T00:00:00Z', endsAt: '2028-01-01T00:00:00Z' } });
    expect(standingOf([a], NOW)).toMatchObject({ active: false, reason: 'contract-not-started' });
  });
  it('falls with a suspended parent', () => {
    expect(standingOf([org('child', { parentRef: { name: 'p' } }), org('p', { suspended: true })], NOW)).toMatchObject({ active: false, reason: 'parent-inactive' });
  });
});

describe('token claims', () => {
  const child = org('emea', { parentRef: { name: 'pinnacle' }, contract: { id: 'BLX-9', partnerType: 'distributor', owner: 'o@b.example', endsAt: '2027-01-01T00:00:00Z' } });
  const chain = [child, org('pinnacle')];
  it('always name the organization and its parents', () => {
    expect(tokenClaims(chain, [], undefined)).toEqual({ organization_id: 'emea', organization_parents: ['pinnacle'] });
  });
  it('add mapped contract fields and constants', () => {
    const claims = tokenClaims(
      chain,
      [
        { name: 'partner_type', from: 'contract.partnerType', tokens: ['access'] },
        { name: 'tier', value: 'gold', tokens: ['access'] },
      ],
      undefined,
    );
    expect(claims).toMatchObject({ partner_type: 'distributor', tier: 'gold' });
  });
  it('cannot be made to lie about the organization', () => {
    // The schema refuses reserved names; even if one slipped through, organization_id is written last.
    const claims = tokenClaims(chain, [{ name: 'organization_id', value: 'forge', tokens: ['access'] }], undefined);
    expect(claims.organization_id).toBe('emea');
  });
});
