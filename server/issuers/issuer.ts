import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { UserAdmission, AdmissionRules } from '../oidc/admission.ts';
import type { KeyRing } from '../oidc/keys.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';
import type { ClientCredentialsGrant } from '../oidc/client-credentials.ts';

export interface IssuerOrigin {
  host: string;
  scheme: string;
}

export function originOf(issuerUrl: string): IssuerOrigin {
  const { host, protocol } = new URL(issuerUrl);
  return { host, scheme: protocol.slice(0, -1) };
}

/** What a refusal calls the issuer: its organization's display name, else its organization's or namespace's name. */
export function displayName(snapshot: IssuerSnapshot): string {
  return snapshot.chain[0]?.spec.displayName ?? snapshot.organization ?? snapshot.namespace;
}

/**
 * A metadata document as the provider answered it (metadata.ts): JWKS is
 * `application/jwk-set+json`, discovery `application/json`. Its JSON kept encoded: a string
 * would be encoded again on every answer.
 */
export interface KeptDocument {
  type: string;
  body: Buffer;
}

/** An issuer's oidc-provider and the two ways a request reaches it. */
export interface ProviderHalf {
  provider: Provider;
  /** The provider inside the server's Koa app (pages, and any request the direct path leaves). */
  mounted: Middleware;
  /** The provider as a plain request listener, for a request whose URL is already relative to the issuer. */
  direct: (req: IncomingMessage, res: ServerResponse) => void;
}

/** What an issuer is made of, read from the store: everything but its provider. */
export interface IssuerParts {
  snapshot: IssuerSnapshot;
  ring: KeyRing;
  /** The issuer identifier: `{publicUrl}{path}`, or a vanity origin (`{scheme}://{host[:port]}`). */
  url: string;
  /** The organization's declared networks and rate (none at a namespace's shared issuer). */
  admission: AdmissionRules;
  /** Private-use URI schemes of its native clients' redirect URIs (`com.example.app:`), for pages' form-action. */
  formSchemes: string[];
  /** At the shared issuer: the signed-in user's organization's networks and rate. */
  admitUser: UserAdmission;
}

/**
 * One issuer: what its gates read on every request, and its oidc-provider, which is built
 * only when a request needs it and is dropped again when the pool of live providers is full
 * (ProviderPool). A provider holds nothing a request needs later (grants, sessions and
 * interactions are in the store; its cookies' keys are the server's), so the one built next
 * answers as the one dropped would have. Kept without it: the discovery document it answered,
 * and the client_credentials grant, which is answered without any provider.
 */
export class Issuer implements IssuerParts {
  readonly snapshot: IssuerSnapshot;
  readonly ring: KeyRing;
  readonly url: string;
  /** `url`'s Host and scheme, read once: every request is pinned to them. */
  readonly origin: IssuerOrigin;
  readonly admission: AdmissionRules;
  readonly formSchemes: string[];
  readonly admitUser: UserAdmission;
  /**
   * The discovery document its provider answered, answered again without it (metadata.ts).
   * Fields, not WeakMaps beside the issuer: ten thousand ephemerons cost every collection.
   */
  discovery: KeptDocument | undefined;
  /** Its client_credentials grant, made on its first token request (~2.6 KiB). */
  grant: ClientCredentialsGrant | undefined;
  #half: ProviderHalf | undefined;
  readonly #pool: ProviderPool;
  readonly #make: (issuer: Issuer) => ProviderHalf;

  constructor(parts: IssuerParts, pool: ProviderPool, make: (issuer: Issuer) => ProviderHalf) {
    this.snapshot = parts.snapshot;
    this.ring = parts.ring;
    this.url = parts.url;
    this.origin = originOf(parts.url);
    this.admission = parts.admission;
    this.formSchemes = parts.formSchemes;
    this.admitUser = parts.admitUser;
    this.#pool = pool;
    this.#make = make;
  }

  /** Its oidc-provider, built now if it is not live (~0.6 ms). */
  get provider(): Provider {
    return this.#built().provider;
  }

  get mounted(): Middleware {
    return this.#built().mounted;
  }

  get direct(): (req: IncomingMessage, res: ServerResponse) => void {
    return this.#built().direct;
  }

  /**
   * Its provider for one request that needs nothing of it afterwards (a metadata document,
   * which is then kept): the live one if there is one, else one built for the request alone and
   * not kept, so it dies young instead of pushing a provider that serves sign-ins out of the pool.
   */
  passing(): ProviderHalf {
    if (this.#half) return this.#built();
    return this.#make(this);
  }

  /** Lets its provider go (the pool is full, or the issuer is no longer current). */
  release(): void {
    this.#half = undefined;
    this.#pool.forget(this);
  }

  #built(): ProviderHalf {
    if (this.#half) {
      this.#pool.touch(this);
      return this.#half;
    }
    const half = this.#make(this);
    this.#half = half;
    this.#pool.add(this);
    return half;
  }
}

/**
 * The issuers whose provider is live, least recently used first: beyond `max`, the oldest
 * lets its provider go. One oidc-provider costs ~60–90 KiB of heap, and with thousands alive
 * the young-generation collections that trace into them cost more than building one again.
 */
export class ProviderPool {
  private readonly live = new Set<Issuer>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.live.size;
  }

  touch(issuer: Issuer): void {
    // Most recently used last.
    this.live.delete(issuer);
    this.live.add(issuer);
  }

  add(issuer: Issuer): void {
    this.live.add(issuer);
    while (this.live.size > this.max) this.live.values().next().value!.release();
  }

  forget(issuer: Issuer): void {
    this.live.delete(issuer);
  }
}
