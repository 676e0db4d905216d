/**
 * Conformance of the admin-tokens repository: admin API tokens, kept as hashes. Every method,
 * on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the admin-tokens repository', (backend) => {
  describe('admin tokens', () => {
    it('are stored as hashes, replaced by name and listed by name', async () => {
      const store = await open(await backend.fresh());
      await store.adminTokens.put('platform-team', 'sha256:aaa', 1000);
      await store.adminTokens.put('controller', 'sha256:bbb', 1000);
      await store.adminTokens.put('platform-team', 'sha256:ccc', 2000);
      expect(await store.adminTokens.list()).toEqual([
        { name: 'controller', tokenHash: 'sha256:bbb' },
        { name: 'platform-team', tokenHash: 'sha256:ccc' },
      ]);
    });
  });
});
