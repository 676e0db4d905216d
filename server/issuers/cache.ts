/** What the cache needs of a built issuer to tell whether it is still current. */
export interface Cacheable {
  snapshot: { version: number };
  ring: { nextChange?: number | undefined };
}

interface Entry<T> {
  namespace: string;
  organization: string | undefined;
  building: Promise<T | undefined>;
  /** Once `building` has settled, its value, so the hot path need not await it. */
  built?: T | undefined;
}

export interface IssuerCacheOptions<T> {
  /** Issuers kept built at once; the least recently used is dropped beyond this. */
  maxIssuers: number;
  /** The namespace's configuration version now (the store's, as last polled). */
  version: (namespace: string) => number;
  now: () => number;
  /** Builds the issuer of a namespace (organization undefined: its shared issuer), on PUBLIC_URL or a vanity origin. */
  build: (namespace: string, organization: string | undefined, vanity: string | undefined) => Promise<T | undefined>;
  /**
   * Carries a built issuer whose namespace's version moved to the current version, and says
   * whether it could (nothing it was made from changed); false: it is built again.
   */
  carry?: (issuer: T) => Promise<boolean>;
  /** Told of each built issuer the cache lets go (replaced, evicted, pruned, cleared), to release what it holds. */
  dropped?: (issuer: T) => void;
}

/**
 * Built issuers by their identifier (an organization's canonical issuer and each of its vanity
 * issuers apart), least recently used dropped first. When its namespace's configuration
 * version moves, an issuer is carried to the new version if nothing it was made from changed
 * (`carry`), else built again, as it is when its keys are due to change; concurrent requests
 * for one being built share that build.
 */
export class IssuerCache<T extends Cacheable> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly options: IssuerCacheOptions<T>;

  constructor(options: IssuerCacheOptions<T>) {
    this.options = options;
  }

  /** Issuers cached (built or being built), for the issuer-cache gauge. */
  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const entry of this.entries.values()) this.drop(entry);
    this.entries.clear();
  }

  async get(key: string, namespace: string, organization: string | undefined, vanity: string | undefined): Promise<T | undefined> {
    const found = this.entries.get(key);
    // A vanity host now another organization's (of another namespace, at another version): never the issuer built for the one before.
    const cached = found && found.namespace === namespace && found.organization === organization ? found : undefined;
    if (found && !cached) {
      this.entries.delete(key);
      this.drop(found);
    }
    if (cached) {
      const built = 'built' in cached ? cached.built : await cached.building;
      const current = built !== undefined && (!this.stale(namespace, built) || (this.movedOnly(namespace, built) && (await this.options.carry?.(built)) === true && this.entries.get(key) === cached));
      if (current) {
        this.entries.delete(key);
        this.entries.set(key, cached); // most recently used last
        return built;
      }
      if (this.entries.get(key) !== cached) return this.get(key, namespace, organization, vanity); // someone else is rebuilding
    }
    if (cached) this.drop(cached);
    const entry: Entry<T> = { namespace, organization, building: this.options.build(namespace, organization, vanity) };
    this.entries.set(key, entry);
    while (this.entries.size > this.options.maxIssuers) {
      const [oldest, evicted] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.drop(evicted);
    }
    try {
      entry.built = await entry.building;
      return entry.built;
    } catch (error) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw error;
    }
  }

  /**
   * Drops every built issuer no longer current (its keys are due to change, or its namespace's
   * configuration moved and `keep` cannot carry it), and says how many: none then holds an old
   * configuration of its namespace in memory until it is next asked for, however rarely that is.
   */
  prune(keep: (issuer: T) => boolean = () => false): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      const { built } = entry;
      if (built !== undefined && this.stale(entry.namespace, built) && !(this.movedOnly(entry.namespace, built) && keep(built))) {
        this.entries.delete(key);
        this.drop(entry);
        dropped++;
      }
    }
    return dropped;
  }

  /** The issuer under `key` if it is built and current, without waiting for anything (the direct path). */
  current(key: string, namespace: string): T | undefined {
    const cached = this.entries.get(key);
    const built = cached && 'built' in cached ? cached.built : undefined;
    return this.stale(namespace, built) ? undefined : built;
  }

  private drop(entry: Entry<T>): void {
    if (entry.built !== undefined) this.options.dropped?.(entry.built);
  }

  /**
   * True when an issuer must be carried or (re)built: missing, its configuration moved on, or
   * its keys are due to change. One built from a later version than last polled is current.
   */
  private stale(namespace: string, built: T | undefined): boolean {
    return !built || built.snapshot.version < this.options.version(namespace) || this.keysDue(built);
  }

  /** Stale only because its namespace's version moved: an issuer that may be carried. */
  private movedOnly(namespace: string, built: T): boolean {
    return built.snapshot.version < this.options.version(namespace) && !this.keysDue(built);
  }

  private keysDue(built: T): boolean {
    return built.ring.nextChange !== undefined && this.options.now() >= built.ring.nextChange;
  }
}
