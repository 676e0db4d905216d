/**
 * Conformance of the governance repository: organizations' certifications, the lifecycle
 * notices already emitted and partner administrators' MFA tightenings, forgotten with their organization. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the governance repository', (backend) => {
  it('keeps the latest certification of each organization, per namespace', async () => {
    const store = await open(await backend.fresh());
    expect(await store.governance.certifications(NAMESPACE)).toEqual(new Map());
    await store.governance.recordCertification(NAMESPACE, 'cascade', 1000, 'ana');
    await store.governance.recordCertification(NAMESPACE, 'forge', 1500, 'bo');
    await store.governance.recordCertification(NAMESPACE, 'cascade', 2000, 'cy');
    await store.governance.recordCertification('elsewhere', 'cascade', 3000, 'di');
    expect(await store.governance.certifications(NAMESPACE)).toEqual(
      new Map([
        ['cascade', { at: 2000, actor: 'cy' }],
        ['forge', { at: 1500, actor: 'bo' }],
      ]),
    );
  });

  it("forgets a deleted organization's certification, MFA tightening and lifecycle notices, and only that organization's in that namespace", async () => {
    const store = await open(await backend.fresh());
    for (const [namespace, organization] of [
      [NAMESPACE, 'cascade'],
      [NAMESPACE, 'cascade-east'],
      ['elsewhere', 'cascade'],
    ] as const) {
      await store.governance.recordCertification(namespace, organization, 1000, 'ana');
      await store.governance.setMfaTightening(namespace, organization, '{"required":true}', 'oli', 1000);
      await store.governance.recordLifecycleNotice(namespace, organization, 'contract-ending', '2027-06-30', 1000);
    }
    expect(await store.governance.forgetOrganization(NAMESPACE, 'cascade')).toBe(3);
    expect(await store.governance.forgetOrganization(NAMESPACE, 'cascade')).toBe(0);
    expect([...(await store.governance.certifications(NAMESPACE)).keys()]).toEqual(['cascade-east']);
    expect([...(await store.governance.mfaTightenings(NAMESPACE)).keys()]).toEqual(['cascade-east']);
    expect([...(await store.governance.certifications('elsewhere')).keys()]).toEqual(['cascade']);
    expect([...(await store.governance.mfaTightenings('elsewhere')).keys()]).toEqual(['cascade']);
    // Its notices are forgotten (emitted again for an organization declared under the name), the others' kept.
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade', 'contract-ending', '2027-06-30', 2000)).toBe(true);
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade-east', 'contract-ending', '2027-06-30', 2000)).toBe(false);
    expect(await store.governance.recordLifecycleNotice('elsewhere', 'cascade', 'contract-ending', '2027-06-30', 2000)).toBe(false);
  });

  it('keeps one MFA tightening per organization, replaced when set again and gone when cleared', async () => {
    const store = await open(await backend.fresh());
    expect(await store.governance.mfaTightenings(NAMESPACE)).toEqual(new Map());
    await store.governance.setMfaTightening(NAMESPACE, 'cascade', '{"required":true}', 'ana', 1000);
    await store.governance.setMfaTightening(NAMESPACE, 'cascade', '{"methods":["webauthn"]}', 'oli', 2000);
    await store.governance.setMfaTightening(NAMESPACE, 'forge', '{"required":true}', 'fred', 1500);
    await store.governance.setMfaTightening('elsewhere', 'cascade', '{}', 'x', 1500);
    expect(await store.governance.mfaTightenings(NAMESPACE)).toEqual(
      new Map([
        ['cascade', { policy: '{"methods":["webauthn"]}', actor: 'oli', at: 2000 }],
        ['forge', { policy: '{"required":true}', actor: 'fred', at: 1500 }],
      ]),
    );
    await store.governance.setMfaTightening(NAMESPACE, 'forge', null, 'fred', 3000);
    expect([...(await store.governance.mfaTightenings(NAMESPACE)).keys()]).toEqual(['cascade']);
  });

  it('records a lifecycle notice once, so it is emitted once', async () => {
    const store = await open(await backend.fresh());
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade', 'contract-ending', '2027-12-31', 1000)).toBe(true);
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade', 'contract-ending', '2027-12-31', 2000)).toBe(false);
    // Another key, notice, organization or namespace is another notice.
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade', 'contract-ending', '2028-12-31', 2000)).toBe(true);
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'cascade', 'suspended', '2027-12-31', 2000)).toBe(true);
    expect(await store.governance.recordLifecycleNotice(NAMESPACE, 'forge', 'contract-ending', '2027-12-31', 2000)).toBe(true);
    expect(await store.governance.recordLifecycleNotice('elsewhere', 'cascade', 'contract-ending', '2027-12-31', 2000)).toBe(true);
  });
});
