/**
 * Conformance of the secrets repository: sealed secrets (encrypted by the caller), by scope
 * and name. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the secrets repository', (backend) => {
  it('puts, replaces, gets and deletes a sealed secret by scope and name', async () => {
    const store = await open(await backend.fresh());
    await store.secrets.put('client', 'blixit/web', 'sealed-1', 1000);
    expect(await store.secrets.get('client', 'blixit/web')).toEqual({ sealed: 'sealed-1', createdAt: 1000 });
    expect(await store.secrets.get('broker', 'blixit/web')).toBeUndefined();
    await store.secrets.put('client', 'blixit/web', 'sealed-2', 2000);
    expect(await store.secrets.get('client', 'blixit/web')).toEqual({ sealed: 'sealed-2', createdAt: 2000 });
    expect(await store.secrets.delete('client', 'blixit/web')).toBe(true);
    expect(await store.secrets.delete('client', 'blixit/web')).toBe(false);
    expect(await store.secrets.get('client', 'blixit/web')).toBeUndefined();
  });

  it('lists the names of one scope starting with a prefix, in order, taking "%" and "_" literally', async () => {
    const store = await open(await backend.fresh());
    await store.secrets.put('client', 'blixit/web', 's', 1000);
    await store.secrets.put('client', 'blixit/api', 's', 2000);
    await store.secrets.put('client', 'blixitx/web', 's', 3000);
    await store.secrets.put('client', 'b_ixit/web', 's', 3000);
    await store.secrets.put('broker', 'blixit/okta', 's', 4000);
    expect(await store.secrets.list('client', 'blixit/')).toEqual([
      { name: 'blixit/api', createdAt: 2000 },
      { name: 'blixit/web', createdAt: 1000 },
    ]);
    expect(await store.secrets.list('client', 'b_')).toEqual([{ name: 'b_ixit/web', createdAt: 3000 }]);
    expect(await store.secrets.list('client', '%')).toEqual([]);
    expect((await store.secrets.list('client', '')).map((s) => s.name)).toEqual(['b_ixit/web', 'blixit/api', 'blixit/web', 'blixitx/web']);
  });
});
