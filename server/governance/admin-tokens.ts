import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.ts';

export const BOOTSTRAP_TOKEN = 'bootstrap';
const MIN_TOKEN_LENGTH = 24;

/** Admin tokens are random and long, so one SHA-256 is a sufficient one-way hash. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function generateToken(): string {
  return `gha_${randomBytes(32).toString('base64url')}`;
}

export type BootstrapResult = { source: 'environment' } | { source: 'stored' } | { source: 'generated'; token: string };

/**
 * Makes sure a bootstrap admin token exists, keeping only its hash: the one from
 * GATEHOUSE_ADMIN_TOKEN when set (replacing any earlier one), else the one kept from a
 * previous start, else a new one that the caller shows once.
 */
export async function ensureBootstrapToken(store: Store, fromEnvironment: string | undefined, now: number): Promise<BootstrapResult> {
  if (fromEnvironment !== undefined) {
    if (fromEnvironment.length < MIN_TOKEN_LENGTH) {
      throw new Error(`GATEHOUSE_ADMIN_TOKEN is too short: use at least ${MIN_TOKEN_LENGTH} random characters (for example: openssl rand -base64 32)`);
    }
    await store.adminTokens.put(BOOTSTRAP_TOKEN, hashToken(fromEnvironment).toString('hex'), now);
    return { source: 'environment' };
  }
  const existing = await store.adminTokens.list();
  if (existing.some((t) => t.name === BOOTSTRAP_TOKEN)) return { source: 'stored' };
  const token = generateToken();
  await store.adminTokens.put(BOOTSTRAP_TOKEN, hashToken(token).toString('hex'), now);
  return { source: 'generated', token };
}

/** Finds which admin token a presented bearer token is, comparing hashes in constant time. */
export class AdminTokenVerifier {
  private readonly store: Store;
  private cache: { name: string; hash: Buffer }[] | undefined;

  constructor(store: Store) {
    this.store = store;
  }

  async identify(presented: string): Promise<string | undefined> {
    this.cache ??= (await this.store.adminTokens.list()).map((t) => ({ name: t.name, hash: Buffer.from(t.tokenHash, 'hex') }));
    const hash = hashToken(presented);
    let match: string | undefined;
    // Every stored hash is compared, so the time taken says nothing about which one matched.
    for (const t of this.cache) {
      if (t.hash.length === hash.length && timingSafeEqual(t.hash, hash)) match ??= t.name;
    }
    return match;
  }

  /** Drops the cached hashes after tokens change. */
  invalidate(): void {
    this.cache = undefined;
  }
}
