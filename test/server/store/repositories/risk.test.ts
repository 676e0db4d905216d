/**
 * Conformance of the risk repository: what the risk engine has seen (devices, addresses,
 * sign-in countries) and the clients it suspended. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the risk repository', (backend) => {
  describe('what was seen', () => {
    it('is remembered per namespace, kind and owner, most recently seen first, and bounded by limit', async () => {
      const store = await open(await backend.fresh());
      await store.risk.remember('acme', 'device', 'u1', 'd-old', 1000);
      await store.risk.remember('acme', 'device', 'u1', 'd-new', 2000);
      await store.risk.remember('acme', 'device', 'u2', 'd-other', 3000);
      await store.risk.remember('other', 'device', 'u1', 'd-elsewhere', 3000);
      await store.risk.remember('acme', 'address', 'u1', '192.0.2.1', 3000);
      expect(await store.risk.seen('acme', 'device', 'u1')).toEqual([
        { value: 'd-new', at: 2000 },
        { value: 'd-old', at: 1000 },
      ]);
      // Seen again: its last sighting moves, it is not a second row.
      await store.risk.remember('acme', 'device', 'u1', 'd-old', 5000);
      expect(await store.risk.seen('acme', 'device', 'u1', 1)).toEqual([{ value: 'd-old', at: 5000 }]);
      expect(await store.risk.seen('acme', 'device', 'u1')).toHaveLength(2);
    });

    it("is forgotten for one user only, and not a same-named client's addresses", async () => {
      const store = await open(await backend.fresh());
      await store.risk.remember('acme', 'sign-in', 'u1', 'NL', 1000);
      await store.risk.remember('acme', 'device', 'u1', 'd1', 1000);
      await store.risk.remember('acme', 'device', 'u2', 'd2', 1000);
      await store.risk.remember('acme', 'address', 'u1', '192.0.2.1', 1000);
      expect(await store.risk.forget('acme', 'u1')).toBe(2);
      expect(await store.risk.seen('acme', 'device', 'u1')).toEqual([]);
      expect(await store.risk.seen('acme', 'sign-in', 'u1')).toEqual([]);
      expect(await store.risk.seen('acme', 'device', 'u2')).toEqual([{ value: 'd2', at: 1000 }]);
      expect(await store.risk.seen('acme', 'address', 'u1')).toEqual([{ value: '192.0.2.1', at: 1000 }]);
    });
  });

  describe("a client's learned addresses", () => {
    it('are forgotten in both owner forms, and nothing else: not a client whose name starts the same, not a same-named user', async () => {
      const store = await open(await backend.fresh());
      for (const owner of ['hub', 'hub forge', 'hub cascade', 'hubble', 'hubble forge']) await store.risk.remember('acme', 'address', owner, `seen by ${owner}`, 1000);
      await store.risk.remember('acme', 'device', 'hub', 'd-of-a-user-named-hub', 1000);
      await store.risk.remember('other', 'address', 'hub', '192.0.2.6', 1000);
      expect(await store.risk.forgetClient('acme', 'hub')).toBe(3);
      for (const owner of ['hub', 'hub forge', 'hub cascade']) expect(await store.risk.seen('acme', 'address', owner)).toEqual([]);
      expect(await store.risk.seen('acme', 'address', 'hubble')).toHaveLength(1);
      expect(await store.risk.seen('acme', 'address', 'hubble forge')).toHaveLength(1);
      expect(await store.risk.seen('acme', 'device', 'hub')).toHaveLength(1);
      expect(await store.risk.seen('other', 'address', 'hub')).toHaveLength(1);
      expect(await store.risk.forgetClient('acme', 'hub')).toBe(0);
    });
  });

  describe('client suspensions', () => {
    it('are stored, replaced, listed per namespace and lifted once', async () => {
      const store = await open(await backend.fresh());
      await store.risk.suspend({ namespace: 'acme', client: 'sync', organization: 'forge', score: 100, rules: ['clientBurst'], suspendedAt: 1000, until: null });
      await store.risk.suspend({ namespace: 'acme', client: 'batch', organization: 'forge', score: 120, rules: ['clientBurst', 'newClientAddress'], suspendedAt: 1500, until: 9000 });
      await store.risk.suspend({ namespace: 'other', client: 'sync', organization: 'x', score: 100, rules: [], suspendedAt: 1000, until: null });
      await store.risk.suspend({ namespace: 'acme', client: 'sync', organization: 'forge', score: 150, rules: ['clientBurst'], suspendedAt: 2000, until: 4000 });
      expect(await store.risk.suspensions('acme')).toEqual([
        { namespace: 'acme', client: 'batch', organization: 'forge', score: 120, rules: ['clientBurst', 'newClientAddress'], suspendedAt: 1500, until: 9000 },
        { namespace: 'acme', client: 'sync', organization: 'forge', score: 150, rules: ['clientBurst'], suspendedAt: 2000, until: 4000 },
      ]);
      expect(await store.risk.suspensions()).toHaveLength(3);
      expect(await store.risk.lift('acme', 'sync')).toMatchObject({ client: 'sync', score: 150 });
      expect(await store.risk.lift('acme', 'sync')).toBeUndefined();
      expect((await store.risk.suspensions('acme')).map((s) => s.client)).toEqual(['batch']);
    });
  });
});
