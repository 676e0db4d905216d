import type { Context } from 'koa';
import { issuerPath, type OrganizationObject } from '../../api/index.ts';
import type { Store } from '../store/index.ts';

/** Which issuer a request is for, once its path (and Host) are read. */
export interface Resolved {
  namespace: string;
  /** Undefined: the namespace's shared issuer. */
  organization: string | undefined;
  /** The path below the issuer's ("/" at its root). */
  rest: string;
}

/** A request that came in on a declared vanity host of an organization. */
export interface VanityMatch {
  /** The organization's issuer path, under which the store keys the vanity issuer's grants and tokens. */
  path: string;
  /** `{scheme of PUBLIC_URL}://{host}[:{port}]`, the port only when the request named a non-default one. */
  origin: string;
  scheme: 'http' | 'https';
}

export interface ResolutionOptions {
  store: Store;
  publicUrl: () => string;
  /** How often other replicas' changes are looked for in the store. */
  pollMs: number;
  /** A namespace's organizations at `version` or later (its shared view: one change is not a read of all of them). */
  organizations: (namespace: string, version: number) => Promise<ReadonlyMap<string, OrganizationObject>>;
}

/**
 * From a request's path (or a declared vanity Host) to the namespace and organization whose
 * issuer answers it. What it knows comes from the store's configuration versions, polled at
 * most every `pollMs` (or at once after a change here): a namespace's organizations and every
 * organization's vanity hosts are read again only when their versions move.
 */
export class IssuerResolution {
  private readonly options: ResolutionOptions;
  private vanity: { key: string; hosts: Map<string, string> } = { key: '', hosts: new Map() };
  private versions = new Map<string, number>();
  /** `versions` as one string, to see at a glance whether anything changed. */
  private versionsKey = '';
  private base: { publicUrl: string; trimmed: string } = { publicUrl: '', trimmed: '' };
  private organizations = new Map<string, { version: number; names: ReadonlyMap<string, OrganizationObject> }>();
  private lastPoll = 0;
  /** The look at the store under way: every request that finds a look due waits for this one. */
  private polling: Promise<boolean> | undefined;

  constructor(options: ResolutionOptions) {
    this.options = options;
  }

  /** Looks at the store again on the next request (a change was made here). */
  expire(): void {
    this.lastPoll = 0;
  }

  /**
   * True when the store must be looked at before a request is resolved: a look is due, or one
   * is under way. A request that came while a look was under way used to be resolved against
   * the versions from before it: on PostgreSQL, where the look takes a round trip, the first
   * token requests to a namespace just declared were answered 404.
   */
  pollDue(): boolean {
    return this.polling !== undefined || Date.now() - this.lastPoll >= this.options.pollMs;
  }

  /**
   * Looks at the store's configuration versions, or waits for the look already under way;
   * true when any version moved since the previous look.
   */
  poll(): Promise<boolean> {
    this.polling ??= this.look().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async look(): Promise<boolean> {
    // Stamped before the read: a change made meanwhile (expire()) makes the next request look again.
    this.lastPoll = Date.now();
    const before = this.versionsKey;
    this.versions = await this.options.store.objects.configVersions();
    this.versionsKey = [...this.versions].join(',');
    return this.versionsKey !== before;
  }

  /** The configuration version of `namespace` last polled (0 when unknown). */
  version(namespace: string): number {
    return this.versions.get(namespace) ?? 0;
  }

  /** True when no vanity host could claim a request: none declared, and that is known for the current versions. */
  noVanityHosts(): boolean {
    return this.vanity.key === this.versionsKey && this.vanity.hosts.size === 0;
  }

  /** The vanity issuer a request's Host names: only hosts an organization declares are served. */
  async vanityOf(ctx: Context): Promise<VanityMatch | undefined> {
    const hosts = this.vanity.key === this.versionsKey ? this.vanity.hosts : await this.vanityHosts();
    if (hosts.size === 0) return undefined;
    const hostname = ctx.hostname;
    if (!hostname) return undefined;
    const path = hosts.get(hostname.toLowerCase());
    if (!path) return undefined;
    const base = new URL(this.options.publicUrl());
    const scheme = base.protocol === 'https:' ? 'https' : 'http';
    const port = /:(\d+)$/.exec(ctx.host)?.[1];
    const named = port && Number(port) !== (scheme === 'https' ? 443 : 80) ? `:${Number(port)}` : '';
    // Only the default port or PUBLIC_URL's: a Host naming any other mints no issuer (nor a cache entry).
    if (named && named !== `:${base.port}`) return undefined;
    return { path, scheme, origin: `${scheme}://${hostname.toLowerCase()}${named}` };
  }

  private async vanityHosts(): Promise<Map<string, string>> {
    const key = this.versionsKey;
    if (this.vanity.key !== key) {
      const hosts = new Map<string, string>();
      const ambiguous = new Set<string>();
      for (const [namespace, version] of this.versions) {
        for (const object of (await this.options.organizations(namespace, version)).values()) {
          const path = issuerPath(namespace, object.metadata.name);
          for (const d of (object.spec.domains ?? []).map((d) => d.toLowerCase())) {
            if (hosts.has(d) && hosts.get(d) !== path) ambiguous.add(d);
            hosts.set(d, path);
          }
        }
      }
      // A host two organizations declare is served as neither (nor are tokens naming it accepted by the admin API).
      for (const d of ambiguous) hosts.delete(d);
      this.vanity = { key, hosts };
    }
    return this.vanity.hosts;
  }

  /** PUBLIC_URL without its trailing slashes (it is read each time: it may be set after listening). */
  private publicBase(): string {
    const publicUrl = this.options.publicUrl();
    if (this.base.publicUrl !== publicUrl) this.base = { publicUrl, trimmed: publicUrl.replace(/\/+$/, '') };
    return this.base.trimmed;
  }

  /** The identifier of a namespace's or organization's issuer on PUBLIC_URL (its cache key too). */
  canonicalUrl(namespace: string, organization: string | undefined): string {
    return `${this.publicBase()}${issuerPath(namespace, organization)}`;
  }

  async resolve(path: string): Promise<Resolved | undefined> {
    const first = firstSegment(path);
    // Only namespaces the store knows are served (their names were validated on write).
    if (!first || first === 'admin') return undefined;
    const version = this.versions.get(first);
    if (version === undefined) return undefined;
    let orgs = this.organizations.get(first);
    if (!orgs || orgs.version !== version) {
      orgs = { version, names: await this.options.organizations(first, version) };
      this.organizations.set(first, orgs);
    }
    return resolveIn(path, first, orgs.names);
  }

  /** `resolve` from what is already known, without asking the store; undefined when that is not enough. */
  resolveKnown(path: string): Resolved | undefined {
    const first = firstSegment(path);
    if (!first || first === 'admin') return undefined;
    const version = this.versions.get(first);
    const orgs = this.organizations.get(first);
    if (version === undefined || !orgs || orgs.version !== version) return undefined;
    return resolveIn(path, first, orgs.names);
  }
}

/** `path`'s first segment ("/{first}[/...]"). */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

/** Which issuer of namespace `first` answers `path`: an organization's when the second segment names one. */
function resolveIn(path: string, first: string, organizations: ReadonlyMap<string, unknown>): Resolved {
  const end1 = path.indexOf('/', 1);
  const afterFirst = end1 < 0 ? '' : path.slice(end1);
  const end2 = end1 < 0 ? -1 : path.indexOf('/', end1 + 1);
  const second = end1 < 0 ? undefined : end2 < 0 ? path.slice(end1 + 1) : path.slice(end1 + 1, end2);
  if (second && organizations.has(second)) return { namespace: first, organization: second, rest: end2 < 0 ? '/' : path.slice(end2) };
  return { namespace: first, organization: undefined, rest: afterFirst || '/' };
}
