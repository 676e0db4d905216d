/**
 * Conformance of the access-requests repository: requests for requireApproval scopes and
 * their decisions. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';
import type { Store } from '../../../../server/store/index.ts';

const backends = await storeBackends();
const { open } = backends;

const ask = (store: Store, id: string, userId: string, scopes: string[], createdAt = 1000, organization = 'forge') => store.accessRequests.create({ namespace: NAMESPACE, id, organization, userId, clientId: `portal.${NAMESPACE}`, scopes, justification: null, createdAt });

backends.each('the access-requests repository', (backend) => {
  it('keeps a request as made, pending, and lists it by organization and state, newest first', async () => {
    const store = await open(await backend.fresh());
    const made = await ask(store, 'ar-1', 'dana', ['orders:write', 'orders:admin']);
    expect(made).toMatchObject({ state: 'pending', decidedAt: null, expiresAt: null });
    expect(await store.accessRequests.find(NAMESPACE, 'ar-1')).toEqual(made);
    await ask(store, 'ar-2', 'ben', ['orders:write'], 2000, 'cascade');
    await store.accessRequests.create({ namespace: 'elsewhere', id: 'ar-1', organization: 'forge', userId: 'dana', clientId: 'x', scopes: ['a'], justification: 'why', createdAt: 3000 });
    expect((await store.accessRequests.list(NAMESPACE)).map((r) => r.id)).toEqual(['ar-2', 'ar-1']);
    expect((await store.accessRequests.list(NAMESPACE, { organizations: ['forge'] })).map((r) => r.id)).toEqual(['ar-1']);
    expect(await store.accessRequests.list(NAMESPACE, { organizations: [] })).toEqual([]);
    expect(await store.accessRequests.list(NAMESPACE, { state: 'approved' })).toEqual([]);
    expect((await store.accessRequests.pending(NAMESPACE, 'dana')).map((r) => r.id)).toEqual(['ar-1']);
    expect(await store.accessRequests.find(NAMESPACE, 'nope')).toBeUndefined();
  });

  it("takes the requester's justification only while pending, and only from them", async () => {
    const store = await open(await backend.fresh());
    await ask(store, 'ar-1', 'dana', ['orders:write']);
    expect(await store.accessRequests.justify(NAMESPACE, 'ar-1', 'ben', 'not mine')).toBe(false);
    expect(await store.accessRequests.justify(NAMESPACE, 'ar-1', 'dana', 'quarterly close')).toBe(true);
    expect((await store.accessRequests.find(NAMESPACE, 'ar-1'))!.justification).toBe('quarterly close');
    await store.accessRequests.decide(NAMESPACE, 'ar-1', { state: 'denied', at: 2000, by: 'admin', expiresAt: null });
    expect(await store.accessRequests.justify(NAMESPACE, 'ar-1', 'dana', 'too late')).toBe(false);
  });

  it('decides a pending request once: a second decision finds it decided', async () => {
    const store = await open(await backend.fresh());
    await ask(store, 'ar-1', 'dana', ['orders:write']);
    expect(await store.accessRequests.decide(NAMESPACE, 'ar-1', { state: 'approved', at: 2000, by: 'user:ns/forge/olga', expiresAt: 5000 })).toBe(true);
    expect(await store.accessRequests.decide(NAMESPACE, 'ar-1', { state: 'denied', at: 2100, by: 'user:ns/forge/otto', expiresAt: null })).toBe(false);
    expect(await store.accessRequests.find(NAMESPACE, 'ar-1')).toMatchObject({ state: 'approved', decidedAt: 2000, decidedBy: 'user:ns/forge/olga', expiresAt: 5000 });
  });

  it('grants the scopes of standing approvals only, until their end, the latest end winning', async () => {
    const store = await open(await backend.fresh());
    await ask(store, 'a', 'dana', ['orders:write', 'orders:admin']);
    await ask(store, 'b', 'dana', ['orders:write']);
    await ask(store, 'c', 'dana', ['billing:read']);
    await ask(store, 'd', 'dana', ['stock:write']);
    await ask(store, 'e', 'ben', ['orders:write']);
    await store.accessRequests.decide(NAMESPACE, 'a', { state: 'approved', at: 1, by: 'x', expiresAt: 5000 });
    await store.accessRequests.decide(NAMESPACE, 'b', { state: 'approved', at: 1, by: 'x', expiresAt: 9000 });
    await store.accessRequests.decide(NAMESPACE, 'c', { state: 'approved', at: 1, by: 'x', expiresAt: null });
    await store.accessRequests.decide(NAMESPACE, 'd', { state: 'denied', at: 1, by: 'x', expiresAt: null });
    await store.accessRequests.decide(NAMESPACE, 'e', { state: 'approved', at: 1, by: 'x', expiresAt: null });
    expect(await store.accessRequests.standing(NAMESPACE, 'dana', 4000)).toEqual(
      new Map([
        ['orders:write', 9000],
        ['orders:admin', 5000],
        ['billing:read', null],
      ]),
    );
    // At its end an approval grants nothing, marked expired or not.
    expect(await store.accessRequests.standing(NAMESPACE, 'dana', 5000)).toEqual(
      new Map([
        ['orders:write', 9000],
        ['billing:read', null],
      ]),
    );
    expect((await store.accessRequests.approvals(NAMESPACE, 5000)).map((r) => r.id).sort()).toEqual(['b', 'c', 'e']);
  });

  it('ends an approval by revocation at any time, and as expired only once its end has passed', async () => {
    const store = await open(await backend.fresh());
    await ask(store, 'a', 'dana', ['orders:write']);
    await ask(store, 'b', 'dana', ['orders:admin']);
    await ask(store, 'p', 'dana', ['billing:read']);
    await store.accessRequests.decide(NAMESPACE, 'a', { state: 'approved', at: 1, by: 'x', expiresAt: 5000 });
    await store.accessRequests.decide(NAMESPACE, 'b', { state: 'approved', at: 1, by: 'x', expiresAt: null });
    expect(await store.accessRequests.end(NAMESPACE, 'a', { state: 'expired', at: 4999, by: 'gatehouse' })).toBe(false);
    expect((await store.accessRequests.lapsed(4999)).map((r) => r.id)).toEqual([]);
    expect((await store.accessRequests.lapsed(5000)).map((r) => r.id)).toEqual(['a']);
    expect(await store.accessRequests.end(NAMESPACE, 'a', { state: 'expired', at: 5000, by: 'gatehouse' })).toBe(true);
    expect(await store.accessRequests.lapsed(6000)).toEqual([]);
    expect(await store.accessRequests.end(NAMESPACE, 'b', { state: 'expired', at: 6000, by: 'gatehouse' })).toBe(false); // no end: never expires
    expect(await store.accessRequests.end(NAMESPACE, 'b', { state: 'revoked', at: 6000, by: 'user:ns/forge/olga' })).toBe(true);
    expect(await store.accessRequests.end(NAMESPACE, 'b', { state: 'revoked', at: 6001, by: 'again' })).toBe(false);
    expect(await store.accessRequests.end(NAMESPACE, 'p', { state: 'revoked', at: 6000, by: 'x' })).toBe(false); // pending: denied, not revoked
    expect(await store.accessRequests.find(NAMESPACE, 'b')).toMatchObject({ state: 'revoked', endedAt: 6000, endedBy: 'user:ns/forge/olga' });
    expect(await store.accessRequests.standing(NAMESPACE, 'dana', 6000)).toEqual(new Map());
  });
});
