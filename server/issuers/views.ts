import type { KeyRing } from '../oidc/keys.ts';
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
  /** Each view's key rings by algorithm, the ring once it is open. */
  private readonly rings = new WeakMap<NamespaceView, Map<string, { opening: Promise<KeyRing>; ring?: KeyRing }>>();

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

  /**
   * The namespace's signing keys for `alg`, opened (unsealed, imported) once for every issuer
   * built from `view`, until the next key takes over or one expires (`nextChange`): a rotation
   * moves the configuration version, so it comes with a new view and a new ring.
   */
  keyRing(view: NamespaceView, alg: string, open: () => Promise<KeyRing>, now: number): Promise<KeyRing> {
    let byAlg = this.rings.get(view);
    if (!byAlg) this.rings.set(view, (byAlg = new Map()));
    const cached = byAlg.get(alg);
    const due = cached?.ring?.nextChange !== undefined && now >= cached.ring.nextChange;
    if (cached && !due) return cached.opening;
    const entry: { opening: Promise<KeyRing>; ring?: KeyRing } = { opening: open() };
    byAlg.set(alg, entry);
    entry.opening.then(
      (ring) => (entry.ring = ring),
      () => byAlg.get(alg) === entry && byAlg.delete(alg),
    );
    return entry.opening;
  }

  clear(): void {
    this.views.clear();
  }
}
