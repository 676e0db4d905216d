import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IdPConnectionObject } from '../../api/index.ts';
import { Problem, notFound } from '../errors.ts';
import type { ChangeContext } from '../objects/service.ts';
import { redact } from '../audit/changes.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';

/** 32 random bytes: one SHA-256 is a sufficient one-way hash (as for admin tokens). */
const hash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export interface IssuedScimToken {
  connection: string;
  organization: string;
  token: string;
  /** Where the IdP sends its requests: the organization's issuer + `/scim/v2`. */
  endpoint: string;
  rotatedAt: string;
}

/**
 * SCIM bearer tokens, one per IdPConnection with `spec.scim.enabled`. Generated here, shown
 * once, kept as a SHA-256 hash: never readable back. Each is bound to its connection and the
 * connection's organization, and is looked up only among that organization's tokens, so a
 * token presented at another organization's endpoint matches nothing.
 */
export class ScimTokens {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly publicUrl: () => string;

  constructor(options: { store: Store; clock: Clock; publicUrl: () => string }) {
    this.store = options.store;
    this.clock = options.clock;
    this.publicUrl = options.publicUrl;
  }

  /** A new token for the connection, replacing its previous one at once. */
  async rotate(namespace: string, name: string, context: ChangeContext): Promise<IssuedScimToken> {
    return this.store.transaction(async (repo) => {
      const stored = await repo.objects.get('IdPConnection', namespace, name);
      if (!stored) throw notFound(`IdPConnection ${namespace}/${name} does not exist`);
      const connection = stored.object as IdPConnectionObject;
      if (!connection.spec.scim?.enabled) {
        throw new Problem(409, 'SCIM not enabled', `IdPConnection ${namespace}/${name} does not enable SCIM: set spec.scim.enabled to true first`, { errors: [{ path: 'spec.scim.enabled', message: 'must be true to issue a SCIM token' }] });
      }
      const organization = connection.spec.organizationRef.name;
      const now = this.clock.now();
      const token = `ghscim_${randomBytes(32).toString('base64url')}`;
      await repo.scim.putToken({ namespace, connection: name, organization, tokenHash: hash(token).toString('hex'), createdAt: now });
      await repo.audit.append({ action: 'IdPConnection.scim-token-rotated', actor: context.actor, namespace, organization, kind: 'IdPConnection', name, data: context.provenance ? { provenance: redact(context.provenance) } : {} }, now);
      return { connection: name, organization, token, endpoint: `${this.publicUrl()}/${namespace}/${organization}/scim/v2`, rotatedAt: new Date(now).toISOString() };
    });
  }

  /** Withdraws the connection's token; its IdP is refused from then on. */
  async revoke(namespace: string, name: string, context: ChangeContext): Promise<{ revoked: boolean }> {
    return this.store.transaction(async (repo) => {
      const stored = await repo.objects.get('IdPConnection', namespace, name);
      if (!stored) throw notFound(`IdPConnection ${namespace}/${name} does not exist`);
      const revoked = await repo.scim.deleteToken(namespace, name);
      if (revoked) {
        await repo.audit.append({ action: 'IdPConnection.scim-token-revoked', actor: context.actor, namespace, organization: (stored.object as IdPConnectionObject).spec.organizationRef.name, kind: 'IdPConnection', name, data: context.provenance ? { provenance: redact(context.provenance) } : {} }, this.clock.now());
      }
      return { revoked };
    });
  }

  /** The connection a presented token belongs to, among the organization's; every stored hash is compared, in constant time. */
  async identify(namespace: string, organization: string, presented: string): Promise<string | undefined> {
    const tokens = await this.store.scim.tokens(namespace, organization);
    const h = hash(presented);
    let match: string | undefined;
    for (const t of tokens) {
      const stored = Buffer.from(t.tokenHash, 'hex');
      if (stored.length === h.length && timingSafeEqual(stored, h) && t.organization === organization) match ??= t.connection;
    }
    return match;
  }
}
