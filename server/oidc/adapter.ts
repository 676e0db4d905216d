import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';

/** Where the adapter stamps the uid of the Client a model was made for (see `storeAdapter`). */
const CLIENT_UID = 'gatehouseClientUid';

/**
 * oidc-provider's persistence, over the store: grants, codes, refresh tokens, sessions
 * and interactions survive a restart and are shared by replicas on PostgreSQL. Rows are
 * keyed by the issuer's path, so a token of one organization is never found at another's issuer.
 *
 * Every model made for a client (grant, code, refresh and opaque access token) is stamped with
 * that Client's uid (`clientUid`, from the issuer's snapshot: in memory), and is found only
 * while the issuer still has that very client: a deleted client's tokens are not found (an
 * inactive answer, never a model pointing at a client that is gone), and one declared again
 * under the same name and client_id revives none of them.
 */
export function storeAdapter(store: Store, clock: Clock, issuer: string, clientUid: (clientId: string) => string | undefined): new (model: string) => Adapter {
  return class StoreAdapter implements Adapter {
    private readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = expiresIn ? clock.now() + expiresIn * 1000 : null;
      const uid = typeof payload.clientId === 'string' ? clientUid(payload.clientId) : undefined;
      await store.oidc.upsert(issuer, this.model, id, JSON.stringify(uid ? { ...payload, [CLIENT_UID]: uid } : payload), { grantId: payload.grantId, uid: payload.uid, userCode: payload.userCode }, expiresAt);
    }

    find(id: string) {
      return this.lookup('id', id);
    }

    findByUid(uid: string) {
      return this.lookup('uid', uid);
    }

    findByUserCode(userCode: string) {
      return this.lookup('user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      await store.oidc.consume(issuer, this.model, id, clock.now());
    }

    async destroy(id: string): Promise<void> {
      await store.oidc.destroy(issuer, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.oidc.revokeGrant(issuer, grantId);
    }

    private async lookup(where: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      const row = await store.oidc.find(issuer, this.model, where, value, clock.now());
      if (!row) return undefined;
      const { [CLIENT_UID]: stamped, ...payload } = JSON.parse(row.payload) as AdapterPayload & { [CLIENT_UID]?: string };
      if (typeof payload.clientId === 'string' && (stamped === undefined || stamped !== clientUid(payload.clientId))) return undefined;
      return row.consumedAt === null ? payload : { ...payload, consumed: Math.floor(row.consumedAt / 1000) };
    }
  };
}
