import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { ConfigEvents } from '../events.ts';
import type { Sealer } from '../secrets/sealer.ts';
import type { Repositories, SigningKeyRow, Store } from '../store/index.ts';
import { LocalSigningKey } from './signer.ts';
import type { z } from 'zod';
import type { SigningAlgorithm } from '../../api/index.ts';

/** The algorithms a Workspace may sign with (api/'s SigningAlgorithm, the one place they are listed). */
export type SigningAlg = z.infer<typeof SigningAlgorithm>;
export type PublicJwk = Record<string, unknown> & { kid: string; alg: string; use: 'sig' };

/** A key still published: it has not expired (retired keys stay until the tokens they signed have). */
const isLive = (row: SigningKeyRow, now: number): boolean => row.expiresAt === null || row.expiresAt > now;

const publicJwkOf = (row: SigningKeyRow): PublicJwk => ({ ...row.publicJwk, kid: row.kid, alg: row.alg, use: 'sig' });

function generate(alg: SigningAlg): KeyObject {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519').privateKey;
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

/** RFC 7638 thumbprint, as a stable key id. */
function thumbprint(publicJwk: Record<string, unknown>): string {
  const members = publicJwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : publicJwk.kty === 'OKP' ? ['crv', 'kty', 'x'] : ['e', 'kty', 'n'];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, publicJwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

export interface KeyRing {
  /** For oidc-provider: the signing key first, then every key still published. Each signs; none hands out its private half. */
  signers: LocalSigningKey[];
  /** The same keys' public JWKs, in the same order: what this namespace's tokens are verified with. */
  publicJwks: PublicJwk[];
  /** The instant the next published key takes over signing (issuers rebuild then), if any. */
  nextChange: number | undefined;
}

/**
 * Signing keys per namespace, sealed in the store. A rotation publishes the new key at
 * once but signs with it only after `publishAhead`, so relying parties have fetched it;
 * the old key stays published until every token it signed has expired.
 */
export class SigningKeys {
  private readonly store: Store;
  private readonly sealer: Sealer;
  private readonly clock: Clock;

  private readonly events: ConfigEvents | undefined;

  constructor(options: { store: Store; sealer: Sealer; clock: Clock; events?: ConfigEvents }) {
    this.store = options.store;
    this.sealer = options.sealer;
    this.clock = options.clock;
    this.events = options.events;
  }

  private readonly creating = new Map<string, Promise<string>>();

  /** The key ring an issuer signs with; makes the first key when the namespace has none for `alg`. */
  async keyRing(namespace: string, alg: SigningAlg): Promise<KeyRing> {
    let rows = await this.store.keys.list(namespace);
    const now = this.clock.now();
    if (!rows.some((r) => r.alg === alg && r.retiredAt === null)) {
      // Issuers of one namespace are often built at once: they must share one first key.
      const key = `${namespace}/${alg}`;
      let pending = this.creating.get(key);
      if (!pending) {
        pending = this.first(namespace, alg, now).finally(() => this.creating.delete(key));
        this.creating.set(key, pending);
      }
      await pending;
      rows = await this.store.keys.list(namespace);
    }
    const live = rows.filter((r) => isLive(r, now));
    const signer = live.find((r) => r.alg === alg && r.activatesAt <= now && r.retiredAt === null) ?? live.find((r) => r.alg === alg && r.activatesAt <= now);
    const ordered = signer ? [signer, ...live.filter((r) => r !== signer)] : live;
    const upcoming = live.filter((r) => r.activatesAt > now).map((r) => r.activatesAt);
    const expiring = live.filter((r) => r.expiresAt !== null).map((r) => r.expiresAt!);
    const changes = [...upcoming, ...expiring];
    return {
      signers: ordered.map((r) => this.open(namespace, r)),
      publicJwks: ordered.map(publicJwkOf),
      nextChange: changes.length ? Math.min(...changes) : undefined,
    };
  }

  /** The public JWKs of every key `namespace` still publishes: enough to verify its tokens, with no private key opened. */
  async publicJwks(namespace: string): Promise<PublicJwk[]> {
    const now = this.clock.now();
    return (await this.store.keys.list(namespace)).filter((r) => isLive(r, now)).map(publicJwkOf);
  }

  /**
   * Starts a rotation: the new key is published now and signs from `now + publishAhead`;
   * the current one retires then and stays published for `retainFor` more (the longest
   * lifetime of a token it may have signed).
   */
  async rotate(namespace: string, alg: SigningAlg, options: { publishAheadSeconds: number; retainForSeconds: number }): Promise<{ kid: string; activatesAt: number }> {
    const now = this.clock.now();
    const activatesAt = now + options.publishAheadSeconds * 1000;
    return this.changeKeys(namespace, alg, async (repo) => {
      const current = (await repo.keys.list(namespace)).filter((r) => r.alg === alg && r.retiredAt === null);
      const kid = await this.add(namespace, alg, activatesAt, repo);
      for (const old of current) await repo.keys.retire(old.kid, activatesAt, activatesAt + options.retainForSeconds * 1000);
      await repo.keys.deleteExpired(namespace, now);
      await repo.audit.append({ action: 'SigningKey.rotated', actor: 'gatehouse', namespace, data: { kid, alg, activatesAt: new Date(activatesAt).toISOString(), retired: current.map((c) => c.kid) } }, now);
      return { kid, activatesAt };
    });
  }

  /**
   * A namespace's first key of `alg`, a change of its keys like a rotation: every replica opens
   * its key ring again, so one that raced to make a first key of its own too publishes both
   * (an open ring is kept across other changes, server/issuers/views.ts).
   */
  private first(namespace: string, alg: SigningAlg, now: number): Promise<string> {
    return this.changeKeys(namespace, alg, (repo) => this.add(namespace, alg, now, repo));
  }

  /** Changes the namespace's `alg` keys in one transaction that moves its configuration version (logged as a SigningKey change); this server's issuers are told at once. */
  private async changeKeys<T>(namespace: string, alg: SigningAlg, change: (repo: Repositories) => Promise<T>): Promise<T> {
    const changed = await this.store.transaction(async (repo) => {
      const result = await change(repo);
      await repo.objects.bumpConfigVersion(namespace, [{ kind: 'SigningKey', name: alg }]);
      return result;
    });
    this.events?.emit('changed', namespace);
    return changed;
  }

  private async add(namespace: string, alg: SigningAlg, activatesAt: number, repo: Repositories = this.store): Promise<string> {
    const privateKey = generate(alg);
    const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const { d, p, q, dp, dq, qi, ...publicJwk } = jwk;
    void [d, p, q, dp, dq, qi];
    const kid = thumbprint(publicJwk);
    const row: SigningKeyRow = {
      kid,
      alg,
      sealedPrivateJwk: this.sealer.seal(JSON.stringify(jwk), `signing-key:${namespace}:${kid}`),
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      createdAt: this.clock.now(),
      activatesAt,
      retiredAt: null,
      expiresAt: null,
    };
    await repo.keys.insert(namespace, row);
    return kid;
  }

  private open(namespace: string, row: SigningKeyRow): LocalSigningKey {
    const jwk = JSON.parse(this.sealer.open(row.sealedPrivateJwk, `signing-key:${namespace}:${row.kid}`)) as Record<string, unknown>;
    return new LocalSigningKey(jwk, row.kid, row.alg as SigningAlg);
  }
}
