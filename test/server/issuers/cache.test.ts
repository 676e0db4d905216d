// The issuer cache (server/issuers/cache.ts): least recently used dropped first, rebuilt when
// its namespace's configuration moves (unless it can be carried to the new version) or its keys
// are due to change, one build shared.
import { describe, expect, it } from '@jest/globals';
import { IssuerCache } from '../../../server/issuers/cache.ts';

interface Built {
  name: string;
  snapshot: { version: number };
  ring: { nextChange?: number | undefined };
}

/** A cache over counted builds, at the given versions and time. */
function cacheOf(options: { maxIssuers?: number; nextChange?: number; fail?: boolean; carry?: (issuer: Built) => boolean } = {}) {
  const versions = new Map<string, number>([['ns', 1]]);
  let now = 1_000;
  const builds: string[] = [];
  const dropped: string[] = [];
  const { carry } = options;
  const cache = new IssuerCache<Built>({
    dropped: (issuer) => dropped.push(issuer.name),
    ...(carry
      ? {
          carry: async (issuer: Built) => {
            if (!carry(issuer)) return false;
            issuer.snapshot.version = versions.get('ns') ?? 0;
            return true;
          },
        }
      : {}),
    maxIssuers: options.maxIssuers ?? 10,
    version: (namespace) => versions.get(namespace) ?? 0,
    now: () => now,
    build: async (namespace, organization, vanity) => {
      const name = vanity ?? `${namespace}/${organization ?? ''}`;
      builds.push(name);
      await new Promise((resolve) => setImmediate(resolve));
      if (options.fail) throw new Error(`cannot build ${name}`);
      return { name, snapshot: { version: versions.get(namespace) ?? 0 }, ring: { nextChange: options.nextChange } };
    },
  });
  return { cache, builds, dropped, versions, at: (ms: number) => (now = ms) };
}

describe('the issuer cache', () => {
  it('builds an issuer once, and concurrent requests for it share that build', async () => {
    const { cache, builds } = cacheOf();
    const [a, b] = await Promise.all([cache.get('k', 'ns', 'forge', undefined), cache.get('k', 'ns', 'forge', undefined)]);
    expect(a).toBe(b);
    expect(await cache.get('k', 'ns', 'forge', undefined)).toBe(a);
    expect(builds).toEqual(['ns/forge']);
  });

  it('answers the direct path only with an issuer built and current', async () => {
    const { cache, versions } = cacheOf();
    expect(cache.current('k', 'ns')).toBeUndefined();
    const pending = cache.get('k', 'ns', 'forge', undefined);
    expect(cache.current('k', 'ns')).toBeUndefined(); // still building
    const built = await pending;
    expect(cache.current('k', 'ns')).toBe(built);
    versions.set('ns', 2);
    expect(cache.current('k', 'ns')).toBeUndefined();
  });

  it("rebuilds when the namespace's configuration version moves", async () => {
    const { cache, builds, versions } = cacheOf();
    const first = await cache.get('k', 'ns', 'forge', undefined);
    versions.set('ns', 2);
    const second = await cache.get('k', 'ns', 'forge', undefined);
    expect(second).not.toBe(first);
    expect(second?.snapshot.version).toBe(2);
    expect(builds).toEqual(['ns/forge', 'ns/forge']);
  });

  it("never answers a vanity host with the issuer of the organization that held it before (another namespace's, whatever its version)", async () => {
    const { cache, builds, versions } = cacheOf();
    versions.set('other', 0);
    // Built for Forge in namespace ns; the host is now Pier's, in a namespace at a lower version.
    const forge = await cache.get('https://sso.example', 'ns', 'forge', 'https://sso.example');
    const pier = await cache.get('https://sso.example', 'other', 'pier', 'https://sso.example');
    expect(pier).not.toBe(forge);
    expect(builds).toEqual(['https://sso.example', 'https://sso.example']);
    expect(await cache.get('https://sso.example', 'other', 'pier', 'https://sso.example')).toBe(pier);
  });

  it('drops at once every issuer left behind by a configuration move, and only those', async () => {
    const { cache, versions } = cacheOf();
    versions.set('other', 1);
    await cache.get('a', 'ns', 'a', undefined);
    await cache.get('b', 'ns', 'b', undefined);
    await cache.get('c', 'other', 'c', undefined);
    expect(cache.prune()).toBe(0);
    versions.set('ns', 2);
    expect(cache.prune()).toBe(2);
    expect(cache.size).toBe(1);
    expect(cache.current('c', 'other')).toBeDefined();
  });

  it('prunes an issuer whose keys are due to change, never one still being built', async () => {
    const { cache, at } = cacheOf({ nextChange: 5_000 });
    await cache.get('a', 'ns', 'a', undefined);
    const building = cache.get('b', 'ns', 'b', undefined);
    at(5_000);
    expect(cache.prune()).toBe(1);
    expect(await building).toBeDefined();
    expect(cache.size).toBe(1);
  });

  it('rebuilds once its keys are due to change', async () => {
    const { cache, builds, at } = cacheOf({ nextChange: 5_000 });
    await cache.get('k', 'ns', 'forge', undefined);
    at(4_999);
    await cache.get('k', 'ns', 'forge', undefined);
    expect(builds).toHaveLength(1);
    at(5_000);
    await cache.get('k', 'ns', 'forge', undefined);
    expect(builds).toHaveLength(2);
  });

  it('drops the least recently used beyond its size', async () => {
    const { cache, builds } = cacheOf({ maxIssuers: 2 });
    await cache.get('a', 'ns', 'a', undefined);
    await cache.get('b', 'ns', 'b', undefined);
    await cache.get('a', 'ns', 'a', undefined); // a is now the most recently used
    await cache.get('c', 'ns', 'c', undefined);
    expect(cache.size).toBe(2);
    expect(cache.current('a', 'ns')).toBeDefined();
    expect(cache.current('b', 'ns')).toBeUndefined();
    expect(builds).toEqual(['ns/a', 'ns/b', 'ns/c']);
  });

  it('tells of every issuer it lets go, so what it holds (its provider) goes with it', async () => {
    const { cache, dropped, versions } = cacheOf({ maxIssuers: 2 });
    await cache.get('a', 'ns', 'a', undefined);
    await cache.get('b', 'ns', 'b', undefined);
    await cache.get('c', 'ns', 'c', undefined); // evicts a
    expect(dropped).toEqual(['ns/a']);
    versions.set('ns', 2);
    await cache.get('c', 'ns', 'c', undefined); // replaces the stale c
    expect(dropped).toEqual(['ns/a', 'ns/c']);
    expect(cache.prune()).toBe(1); // the stale b
    expect(dropped).toEqual(['ns/a', 'ns/c', 'ns/b']);
    cache.clear();
    expect(dropped).toEqual(['ns/a', 'ns/c', 'ns/b', 'ns/c']);
  });

  it('keeps a vanity issuer apart from the canonical one', async () => {
    const { cache } = cacheOf();
    const canonical = await cache.get('http://gatehouse.test/ns/forge', 'ns', 'forge', undefined);
    const vanity = await cache.get('https://login.forge.example', 'ns', 'forge', 'https://login.forge.example');
    expect(vanity).not.toBe(canonical);
    expect(vanity?.name).toBe('https://login.forge.example');
  });

  it('keeps no entry for a build that failed, so the next request tries again', async () => {
    const { cache, builds } = cacheOf({ fail: true });
    await expect(cache.get('k', 'ns', 'forge', undefined)).rejects.toThrow('cannot build ns/forge');
    expect(cache.size).toBe(0);
    await expect(cache.get('k', 'ns', 'forge', undefined)).rejects.toThrow('cannot build ns/forge');
    expect(builds).toHaveLength(2);
  });

  it('carries an issuer whose namespace moved when nothing it read changed: the same issuer, not built again', async () => {
    const { cache, builds, versions, dropped } = cacheOf({ carry: (issuer) => issuer.name !== 'ns/forge' });
    const cascade = await cache.get('c', 'ns', 'cascade', undefined);
    const forge = await cache.get('f', 'ns', 'forge', undefined);
    versions.set('ns', 2);
    expect(await cache.get('c', 'ns', 'cascade', undefined)).toBe(cascade);
    expect(cascade?.snapshot.version).toBe(2);
    expect(await cache.get('f', 'ns', 'forge', undefined)).not.toBe(forge);
    expect(builds).toEqual(['ns/cascade', 'ns/forge', 'ns/forge']);
    expect(dropped).toEqual(['ns/forge']);
  });

  it('prunes what it cannot carry, and keeps what it can', async () => {
    const { cache, versions, dropped } = cacheOf();
    const cascade = await cache.get('c', 'ns', 'cascade', undefined);
    await cache.get('f', 'ns', 'forge', undefined);
    versions.set('ns', 2);
    expect(cache.prune((issuer) => issuer.name === 'ns/cascade')).toBe(1);
    expect(dropped).toEqual(['ns/forge']);
    expect(cache.size).toBe(1);
    expect(cascade?.snapshot.version).toBe(1); // prune asks; the keeper carries
  });

  it('never carries an issuer whose keys are due to change', async () => {
    const { cache, builds, versions, at } = cacheOf({ nextChange: 5_000, carry: () => true });
    const first = await cache.get('k', 'ns', 'forge', undefined);
    versions.set('ns', 2);
    at(5_000);
    expect(cache.prune(() => true)).toBe(1);
    expect(await cache.get('k', 'ns', 'forge', undefined)).not.toBe(first);
    expect(builds).toEqual(['ns/forge', 'ns/forge']);
  });
});
