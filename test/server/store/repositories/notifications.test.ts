/**
 * Conformance of the notification outbox: enqueue, lease (one holder per row, even between
 * replicas racing), settle under the lease only, held messages released when a channel
 * appears, listing by organization and state, erasure.
 * Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import type { NewNotification } from '../../../../server/store/index.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

const message = (id: string, organization = 'cascade', userId: string | null = 'u-1'): NewNotification => ({ id, namespace: NAMESPACE, organization, message: 'invitation', recipient: `${id}@cascade.example`, userId, variables: { link: `https://gate.example/${id}` } });

backends.each('the notifications repository', (backend) => {
  it('enqueues a pending message and reads it back as written', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1'), 1000);
    expect(await store.notifications.find('n1')).toEqual({ ...message('n1'), state: 'pending', attempts: 0, nextAttemptAt: 1000, channel: null, lastError: null, createdAt: 1000, sentAt: null });
    expect(await store.notifications.find('nope')).toBeUndefined();
  });

  it('writes a message in the transaction of the change: a rolled-back change leaves no message', async () => {
    const store = await open(await backend.fresh());
    await expect(
      store.transaction(async (repo) => {
        await repo.notifications.enqueue(message('n1'), 1000);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await store.notifications.find('n1')).toBeUndefined();
  });

  it('leases due messages to one owner until the lease runs out, then to another', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1'), 1000);
    await store.notifications.enqueue(message('n2'), 2000);
    await store.notifications.enqueue(message('later'), 9000);
    expect((await store.notifications.lease('a', 5000, 6000, 10)).map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(await store.notifications.lease('b', 5500, 6500, 10)).toEqual([]);
    // A holder that died: its lease ends and the rows are due again.
    expect((await store.notifications.lease('b', 6000, 7000, 1)).map((n) => n.id)).toEqual(['n1']);
  });

  it('renews a lease only for its holder: a message another replica took over is not attempted', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1'), 1000);
    await store.notifications.lease('a', 1000, 2000, 10);
    expect(await store.notifications.renew('n1', 'a', 3000)).toBe(true);
    expect(await store.notifications.lease('b', 2500, 4000, 10)).toEqual([]);
    expect((await store.notifications.lease('b', 3000, 4000, 10)).map((n) => n.id)).toEqual(['n1']);
    expect(await store.notifications.renew('n1', 'a', 5000)).toBe(false);
  });

  it('settles an attempt only under the lease that made it', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1'), 1000);
    await store.notifications.lease('a', 1000, 2000, 10);
    await store.notifications.lease('b', 2000, 3000, 10);
    expect(await store.notifications.settle('n1', 'a', { state: 'sent', attempts: 1, channel: 'smtp', at: 2100 })).toBe(false);
    expect(await store.notifications.settle('n1', 'b', { state: 'pending', attempts: 1, nextAttemptAt: 4000, error: 'connection refused', at: 2100 })).toBe(true);
    expect(await store.notifications.find('n1')).toMatchObject({ state: 'pending', attempts: 1, nextAttemptAt: 4000, lastError: 'connection refused', sentAt: null });
    expect(await store.notifications.lease('c', 3000, 5000, 10)).toEqual([]);
    expect((await store.notifications.lease('c', 4000, 5000, 10)).map((n) => n.id)).toEqual(['n1']);
    expect(await store.notifications.settle('n1', 'c', { state: 'sent', attempts: 2, channel: 'smtp', at: 4100 })).toBe(true);
    expect(await store.notifications.find('n1')).toMatchObject({ state: 'sent', attempts: 2, channel: 'smtp', lastError: null, sentAt: 4100 });
    // Sent is final: no lease takes it again, no late settle changes it.
    expect(await store.notifications.lease('d', 99_000, 100_000, 10)).toEqual([]);
    expect(await store.notifications.settle('n1', 'c', { state: 'failed', attempts: 3, at: 5000 })).toBe(false);
  });

  it('never leases one message to two replicas racing for it', async () => {
    const options = await backend.fresh();
    const store = await open(options);
    for (let i = 0; i < 40; i++) await store.notifications.enqueue(message(`n${String(i).padStart(2, '0')}`), 1000);
    // On PostgreSQL, replicas: one store (and connection pool) each on the same database.
    const stores = backend.sharedByReplicas ? [store, await open(options), await open(options), await open(options)] : [store];
    const ids: string[] = [];
    // A replica that waited on a row another one leased skips it (and may come back short); the next round takes the rest.
    for (let round = 0; round < 4 && ids.length < 40; round++) {
      const leased = await Promise.all(['a', 'b', 'c', 'd'].map((owner, i) => stores[i % stores.length]!.notifications.lease(`${owner}${round}`, 2000, 3000, 15)));
      ids.push(...leased.flat().map((n) => n.id));
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(40);
  });

  it('lists a namespace newest first, by organization and state', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1', 'cascade'), 1000);
    await store.notifications.enqueue(message('n2', 'forge'), 2000);
    await store.notifications.enqueue({ ...message('n3', 'cascade'), namespace: 'elsewhere' }, 3000);
    await store.notifications.enqueue(message('n4', ''), 4000);
    await store.notifications.lease('a', 5000, 6000, 1);
    await store.notifications.settle('n1', 'a', { state: 'held', attempts: 1, channel: 'log', at: 5000 });
    expect((await store.notifications.list(NAMESPACE)).map((n) => n.id)).toEqual(['n4', 'n2', 'n1']);
    expect((await store.notifications.list(NAMESPACE, { organizations: ['cascade'] })).map((n) => n.id)).toEqual(['n1']);
    expect(await store.notifications.list(NAMESPACE, { organizations: [] })).toEqual([]);
    expect((await store.notifications.list(NAMESPACE, { state: 'pending' })).map((n) => n.id)).toEqual(['n4', 'n2']);
    expect((await store.notifications.list(NAMESPACE, { limit: 1 })).map((n) => n.id)).toEqual(['n4']);
  });

  it("releases a namespace's held messages to pending, due now, their channel cleared; expired ones stay final", async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1'), 1000);
    await store.notifications.enqueue(message('n2'), 1000);
    await store.notifications.enqueue({ ...message('other'), namespace: 'other-ns' }, 1000);
    await store.notifications.enqueue(message('n3'), 1000);
    expect(await store.notifications.heldNamespaces()).toEqual([]);
    await store.notifications.lease('a', 1000, 2000, 10);
    for (const id of ['n1', 'n2', 'other']) expect(await store.notifications.settle(id, 'a', { state: 'held', attempts: 1, channel: 'none', at: 1100 })).toBe(true);
    expect(await store.notifications.settle('n3', 'a', { state: 'expired', attempts: 0, error: 'its link no longer works', at: 1100 })).toBe(true);
    expect(await store.notifications.heldNamespaces()).toEqual([NAMESPACE, 'other-ns'].sort());
    expect(await store.notifications.lease('b', 5000, 6000, 10)).toEqual([]);
    expect(await store.notifications.release(NAMESPACE, 5000)).toBe(2);
    expect(await store.notifications.find('n1')).toMatchObject({ state: 'pending', attempts: 1, nextAttemptAt: 5000, channel: null, sentAt: null });
    expect(await store.notifications.find('n3')).toMatchObject({ state: 'expired', lastError: 'its link no longer works', sentAt: null });
    expect(await store.notifications.heldNamespaces()).toEqual(['other-ns']);
    expect((await store.notifications.lease('b', 5000, 6000, 10)).map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(await store.notifications.release(NAMESPACE, 6000)).toBe(0);
  });

  it('redacts variables and erases the messages about one user', async () => {
    const store = await open(await backend.fresh());
    await store.notifications.enqueue(message('n1', 'cascade', 'u-1'), 1000);
    await store.notifications.enqueue(message('n2', 'cascade', 'u-2'), 1000);
    await store.notifications.redact('n1', { link: '(sent)' });
    expect((await store.notifications.find('n1'))?.variables).toEqual({ link: '(sent)' });
    expect(await store.notifications.eraseUser(NAMESPACE, 'u-1')).toBe(1);
    expect((await store.notifications.list(NAMESPACE)).map((n) => n.id)).toEqual(['n2']);
  });
});
