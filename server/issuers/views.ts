import type { Store } from '../store/index.ts';
import { loadNamespaceView, type NamespaceView } from '../oidc/snapshot.ts';

/**
 * Each namespace's declarations as one shared view (oidc/snapshot.ts), read once per
 * configuration version however many of its issuers are built: an issuer's build then costs
 * what its own organization declares, not what the whole namespace does (at 1,000
 * organizations, reading and parsing all of them per issuer was ~25 ms and ~1 MiB each).
 * A view is replaced as soon as the store's version of its namespace moves.
 */
export class NamespaceViews {
  private readonly store: Store;
  private readonly views = new Map<string, { version: number; view: Promise<NamespaceView> }>();

  constructor(store: Store) {
    this.store = store;
  }

  /** The view of `namespace` at the store's current configuration version; concurrent callers share one read. */
  async get(namespace: string): Promise<NamespaceView> {
    const version = (await this.store.objects.configVersions()).get(namespace) ?? 0;
    const cached = this.views.get(namespace);
    if (cached && cached.version === version) return cached.view;
    const entry = { version, view: loadNamespaceView(this.store, namespace, version) };
    this.views.set(namespace, entry);
    entry.view.catch(() => {
      if (this.views.get(namespace) === entry) this.views.delete(namespace);
    });
    return entry.view;
  }

  clear(): void {
    this.views.clear();
  }
}
