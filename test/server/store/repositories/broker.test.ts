/**
 * Conformance of the broker repository: the federation broker's pending requests and its
 * replay cache of SAML assertions. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the broker repository', (backend) => {
  describe('pending requests', () => {
    it('are peeked at while live, taken once, and replaced when put again', async () => {
      const store = await open(await backend.fresh());
      await store.broker.putRequest('r1', NAMESPACE, 'first', 5000);
      await store.broker.putRequest('r1', NAMESPACE, 'second', 6000);
      expect(await store.broker.peekRequest('r1', 5500)).toBe('second');
      expect(await store.broker.peekRequest('r1', 6000)).toBeUndefined();
      expect(await store.broker.takeRequest('r1', 6000)).toBeUndefined();
      expect(await store.broker.takeRequest('r1', 5500)).toBe('second');
      expect(await store.broker.takeRequest('r1', 5500)).toBeUndefined();
      expect(await store.broker.peekRequest('r1', 0)).toBeUndefined();
      expect(await store.broker.peekRequest('unknown', 0)).toBeUndefined();
    });

    it('are deleted once expired, oldest first and at most `limit` at a time', async () => {
      const store = await open(await backend.fresh());
      await store.broker.putRequest('older', NAMESPACE, 'p', 500);
      await store.broker.putRequest('old', NAMESPACE, 'p', 1000);
      await store.broker.putRequest('live', NAMESPACE, 'p', 3000);
      expect(await store.broker.deleteExpiredRequests(1000, 1)).toBe(1);
      expect(await store.broker.deleteExpiredRequests(1000, 10)).toBe(1);
      expect(await store.broker.deleteExpiredRequests(1000, 10)).toBe(0);
      expect(await store.broker.peekRequest('live', 1000)).toBe('p');
    });
  });

  describe('SAML assertions', () => {
    it('are remembered once per IdP, a second sight being a replay', async () => {
      const store = await open(await backend.fresh());
      expect(await store.broker.rememberAssertion('okta', 'a1', 5000, 1000)).toBe(true);
      expect(await store.broker.rememberAssertion('okta', 'a1', 5000, 1000)).toBe(false);
      expect(await store.broker.rememberAssertion('entra', 'a1', 5000, 1000)).toBe(true);
    });

    it('are forgotten once expired, by the sweeper and a little on each new one', async () => {
      const store = await open(await backend.fresh());
      await store.broker.rememberAssertion('okta', 'a1', 1000, 0);
      await store.broker.rememberAssertion('okta', 'a2', 2000, 0);
      await store.broker.rememberAssertion('okta', 'a3', 3000, 0);
      expect(await store.broker.deleteExpiredAssertions(2000, 1)).toBe(1);
      // Remembering at 2000 clears what expired by then, so a2 can be seen again.
      expect(await store.broker.rememberAssertion('okta', 'a4', 9000, 2000)).toBe(true);
      expect(await store.broker.rememberAssertion('okta', 'a2', 9000, 2000)).toBe(true);
      expect(await store.broker.rememberAssertion('okta', 'a3', 9000, 2000)).toBe(false);
      expect(await store.broker.deleteExpiredAssertions(2000, 10)).toBe(0);
    });
  });
});
