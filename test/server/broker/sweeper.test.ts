/**
 * The sweep of expired pending sign-ins, SAML replay-cache rows, oidc-provider rows and
 * JWT access-token records, on both
 * store backends (PostgreSQL when the machine has its binaries), with an injected clock.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { BrokerSweeper } from '../../../server/broker/sweeper.ts';
import { fixedClock } from '../../../server/clock.ts';
import { openStore, type Store, type StoreOptions } from '../../../server/store/index.ts';
import { startPostgres } from '../../support/postgres.ts';
import { startTestServer } from '../../support/server.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';

const T0 = Date.parse('2026-11-23T09:00:00Z');
const MIN = 60_000;
const tempDir = temporaryDirectories('gatehouse-sweep-');
const server = await startPostgres();
const backends: { name: string; fresh(): Promise<StoreOptions> }[] = [
  {
    name: 'sqlite',
    fresh: async () => ({ dataDir: await tempDir() }),
  },
  ...(server ? [{ name: 'postgres', fresh: async () => ({ databaseUrl: await server.createSchema() }) }] : []),
];
const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await server?.stop();
});

const count = async (store: Store, table: 'broker_requests' | 'saml_assertions' | 'oidc_models' | 'access_tokens') => Number((await store.driver.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);

/** Pending requests and assertion IDs expiring at T0 + the given minutes. */
async function seed(store: Store, minutes: number[]): Promise<void> {
  for (const [i, m] of minutes.entries()) {
    await store.broker.putRequest(`oidc:state-${i}`, 'blixit', `{"i":${i}}`, T0 + m * MIN);
    // Remembered "long ago", so the bounded clean-up on insert has nothing to take yet.
    expect(await store.broker.rememberAssertion('https://idp.example', `_a${i}`, T0 + m * MIN, 0)).toBe(true);
  }
}

describe.each(backends)('the broker sweep on $name', (backend) => {
  const open = async () => {
    const store = await openStore(await backend.fresh());
    opened.push(store);
    return store;
  };

  it('deletes expired rows of both tables and keeps the live ones', async () => {
    const store = await open();
    await seed(store, [-30, -1, 0, 1, 10]);
    const clock = fixedClock(T0);
    const result = await new BrokerSweeper({ store, clock }).tick();
    // Expiring exactly now counts as expired, as for every read (`expires_at > now`).
    expect(result).toEqual({ brokerRequests: 3, samlAssertions: 3, oidcModels: 0, accessTokens: 0 });
    expect(await count(store, 'broker_requests')).toBe(2);
    expect(await count(store, 'saml_assertions')).toBe(2);
    expect(await store.broker.peekRequest('oidc:state-3', T0)).toBe('{"i":3}');
    expect(await store.broker.peekRequest('oidc:state-4', T0)).toBe('{"i":4}');
    // A live assertion is still remembered: a replay of it is still refused.
    expect(await store.broker.rememberAssertion('https://idp.example', '_a4', T0 + 10 * MIN, T0)).toBe(false);
    // Nothing more to do until the clock moves; then the rest goes.
    expect(await new BrokerSweeper({ store, clock }).tick()).toEqual({ brokerRequests: 0, samlAssertions: 0, oidcModels: 0, accessTokens: 0 });
    clock.advance(10 * MIN);
    expect(await new BrokerSweeper({ store, clock }).tick()).toEqual({ brokerRequests: 2, samlAssertions: 2, oidcModels: 0, accessTokens: 0 });
    expect(await count(store, 'broker_requests')).toBe(0);
  });

  it('bounds the work of one tick; the next ticks finish a backlog', async () => {
    const store = await open();
    await seed(store, [-9, -8, -7, -6, -5, -4, -3, 5]);
    const sweeper = new BrokerSweeper({ store, clock: fixedClock(T0), batchSize: 2, maxBatches: 2 });
    expect(await sweeper.tick()).toEqual({ brokerRequests: 4, samlAssertions: 4, oidcModels: 0, accessTokens: 0 });
    // Oldest first.
    expect(await store.broker.peekRequest('oidc:state-0', T0 - 10 * MIN)).toBeUndefined();
    expect(await store.broker.peekRequest('oidc:state-4', T0 - 10 * MIN)).toBe('{"i":4}');
    expect(await sweeper.tick()).toEqual({ brokerRequests: 3, samlAssertions: 3, oidcModels: 0, accessTokens: 0 });
    expect(await count(store, 'broker_requests')).toBe(1);
    expect(await count(store, 'saml_assertions')).toBe(1);
  });

  it('deletes expired oidc-provider rows, keeping a consumed refresh token until it expires (reuse detection) and rows without expiry', async () => {
    const store = await open();
    const repo = store;
    const I = '/blixit/forge';
    const put = (model: string, id: string, expiresAt: number | null, grantId = 'g1') => repo.oidc.upsert(I, model, id, `{"jti":"${id}"}`, { grantId }, expiresAt);
    await put('RefreshToken', 'rt-used-expired', T0 - MIN);
    await put('RefreshToken', 'rt-used-live', T0 + 10 * MIN);
    await put('RefreshToken', 'rt-live', T0 + 10 * MIN);
    await put('AuthorizationCode', 'code-expired', T0);
    await put('Session', 'session-expired', T0 - 30 * MIN);
    await put('Grant', 'g1', T0 + 60 * MIN);
    await put('Client', 'dynamic', null);
    await repo.oidc.consume(I, 'RefreshToken', 'rt-used-expired', T0 - 2 * MIN);
    await repo.oidc.consume(I, 'RefreshToken', 'rt-used-live', T0 - 2 * MIN);
    const clock = fixedClock(T0);
    expect(await new BrokerSweeper({ store, clock }).tick()).toEqual({ brokerRequests: 0, samlAssertions: 0, oidcModels: 3, accessTokens: 0 });
    expect(await count(store, 'oidc_models')).toBe(4);
    // The consumed, unexpired refresh token is still found, as consumed: presenting it revokes the grant.
    expect(await repo.oidc.find(I, 'RefreshToken', 'id', 'rt-used-live', T0)).toEqual({ payload: '{"jti":"rt-used-live"}', consumedAt: T0 - 2 * MIN });
    expect(await repo.oidc.find(I, 'RefreshToken', 'id', 'rt-live', T0)).toMatchObject({ consumedAt: null });
    expect(await repo.oidc.find(I, 'Grant', 'id', 'g1', T0)).toBeDefined();
    clock.advance(10 * MIN);
    expect((await new BrokerSweeper({ store, clock }).tick()).oidcModels).toBe(2);
    clock.advance(50 * MIN);
    expect((await new BrokerSweeper({ store, clock }).tick()).oidcModels).toBe(1);
    // A row without expiry is never swept.
    expect(await count(store, 'oidc_models')).toBe(1);
    expect(await repo.oidc.find(I, 'Client', 'id', 'dynamic', T0 + 365 * 24 * 60 * MIN)).toBeDefined();
  });

  it('deletes records of expired JWT access tokens, revoked or not, and keeps the live ones (a revoked live token stays revoked)', async () => {
    const store = await open();
    const repo = store;
    const I = '/blixit/forge';
    await repo.accessTokens.record(I, 'jti-expired', 'g1', T0 - MIN);
    await repo.accessTokens.revoke(I, 'jti-revoked-expired', T0, T0 - 5 * MIN);
    await repo.accessTokens.revoke(I, 'jti-revoked-live', T0 + MIN, T0 - 5 * MIN);
    await repo.accessTokens.record(I, 'jti-live', 'g1', T0 + 15 * MIN);
    const clock = fixedClock(T0);
    expect(await new BrokerSweeper({ store, clock }).tick()).toEqual({ brokerRequests: 0, samlAssertions: 0, oidcModels: 0, accessTokens: 2 });
    expect(await repo.accessTokens.find(I, 'jti-expired')).toBeUndefined();
    expect(await repo.accessTokens.find(I, 'jti-revoked-live')).toEqual({ grantId: null, revokedAt: T0 - 5 * MIN });
    expect(await repo.accessTokens.find(I, 'jti-live')).toEqual({ grantId: 'g1', revokedAt: null });
    clock.advance(MIN);
    expect((await new BrokerSweeper({ store, clock }).tick()).accessTokens).toBe(1);
    expect(await count(store, 'access_tokens')).toBe(1);
  });

  it('bounds the oidc-provider and access-token sweeps per tick like the others, oldest first', async () => {
    const store = await open();
    for (let i = 0; i < 7; i++) {
      await store.oidc.upsert('/blixit', 'Session', `s${i}`, '{}', {}, T0 - (10 - i) * MIN);
      await store.accessTokens.record('/blixit', `j${i}`, null, T0 - (10 - i) * MIN);
    }
    const sweeper = new BrokerSweeper({ store, clock: fixedClock(T0), batchSize: 2, maxBatches: 2 });
    expect(await sweeper.tick()).toMatchObject({ oidcModels: 4, accessTokens: 4 });
    expect(await store.oidc.find('/blixit', 'Session', 'id', 's3', T0 - 10 * MIN)).toBeUndefined();
    expect(await store.oidc.find('/blixit', 'Session', 'id', 's4', T0 - 10 * MIN)).toBeDefined();
    expect(await sweeper.tick()).toMatchObject({ oidcModels: 3, accessTokens: 3 });
    expect(await count(store, 'oidc_models')).toBe(0);
    expect(await count(store, 'access_tokens')).toBe(0);
  });

  it('cleans a bounded number of expired assertion IDs on each new one', async () => {
    const store = await open();
    await seed(
      store,
      Array.from({ length: 60 }, () => -1),
    );
    expect(await store.broker.rememberAssertion('https://idp.example', '_fresh', T0 + MIN, T0)).toBe(true);
    expect(await count(store, 'saml_assertions')).toBe(61 - 50);
  });
});

describe('the sweep owned by the app', () => {
  it("runs on its timer from start() until stop(), with the app's clock", async () => {
    const gh = await startTestServer({ now: '2026-11-23T09:00:00Z' });
    try {
      const { sweeper } = gh.gatehouse;
      await seed(gh.store, [1, 20]);
      gh.clock.advance(5 * MIN);
      sweeper.start(20);
      for (let i = 0; i < 100 && (await count(gh.store, 'broker_requests')) > 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await count(gh.store, 'broker_requests')).toBe(1);
      expect(await count(gh.store, 'saml_assertions')).toBe(1);
      await sweeper.stop();
      gh.clock.advance(60 * MIN);
      await new Promise((r) => setTimeout(r, 80));
      expect(await count(gh.store, 'broker_requests')).toBe(1); // stopped: nothing swept any more
    } finally {
      await gh.gatehouse.sweeper.stop();
      await gh.close();
    }
  });
});
