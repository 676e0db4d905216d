import type { KeyRing } from '../oidc/keys.ts';
import type { Store } from '../store/index.ts';
import { advanceNamespaceView, loadNamespaceView, type NamespaceView, type ViewChange } from '../oidc/namespace-view.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';
import { carryTo, mergeChanges } from './carry.ts';

/** Changes kept per namespace, to carry an issuer left behind several views (one not asked for in a while). */
const HISTORY = 64;

type Rings = Map<string, { opening: Promise<KeyRing>; ring?: KeyRing }>;

interface Entry {
  version: number;
  view: Promise<NamespaceView>;
  /** Once `view` has settled, its value. */
  settled?: NamespaceView;
}

/**
 * Each namespace's declarations as one shared view (oidc/namespace-view.ts), read once per
 * configuration version however many of its issuers are built: an issuer's build then costs
 * what its own organization declares, not what the whole namespace does. When the version
 * moves, the view is advanced by what the store's change log names (one edited organization:
 * one object read), not read whole again: one change must not cost a read of the namespace.
 */
export class NamespaceViews {
  private readonly store: Store;
  private readonly views = new Map<string, Entry>();
  /** Each namespace's last changes from view to view, oldest first. */
  private readonly history = new Map<string, ViewChange[]>();
  /** The last answer of `between`, while the namespace's history ends where it did. */
  private merged: { key: string; history: ViewChange | undefined; change: ViewChange | undefined } | undefined;
  /** Each view's key rings by algorithm, the ring once it is open. */
  private readonly rings = new WeakMap<NamespaceView, Rings>();

  constructor(store: Store) {
    this.store = store;
  }

  /**
   * The view of `namespace` at `version` or later (the store's current version when not given);
   * concurrent callers share one read.
   */
  async get(namespace: string, version?: number): Promise<NamespaceView> {
    const at = version ?? (await this.store.objects.configVersions()).get(namespace) ?? 0;
    const cached = this.views.get(namespace);
    if (cached && cached.version >= at) return cached.view;
    const entry: Entry = { version: at, view: this.read(namespace, at, cached) };
    this.views.set(namespace, entry);
    entry.view.then(
      (view) => (entry.settled = view),
      () => this.views.get(namespace) === entry && this.views.delete(namespace),
    );
    return entry.view;
  }

  private async read(namespace: string, version: number, cached: Entry | undefined): Promise<NamespaceView> {
    const previous = cached ? await cached.view.catch(() => undefined) : undefined;
    const view = previous ? await advanceNamespaceView(this.store, previous, version) : await loadNamespaceView(this.store, namespace, version);
    const { change } = view;
    // Read whole: what changed since the views before is not known, so no issuer built from one is carried.
    if (!change) {
      this.history.delete(namespace);
      return view;
    }
    const history = this.history.get(namespace) ?? [];
    history.push(change);
    if (history.length > HISTORY) history.shift();
    this.history.set(namespace, history);
    // The same keys: the ring already open serves the new view's issuers too (and carried ones keep theirs).
    const rings = previous && this.rings.get(previous);
    if (!change.keys && rings) this.rings.set(view, rings);
    return view;
  }

  /** The namespace's view once it has been read, without waiting (undefined while a read is under way). */
  settled(namespace: string): NamespaceView | undefined {
    return this.views.get(namespace)?.settled;
  }

  /** Namespaces with a view. */
  namespaces(): string[] {
    return [...this.views.keys()];
  }

  /** What changed from version `from` to `to`, or undefined when the views kept no longer say (then: build again). */
  between(namespace: string, from: number, to: number): ViewChange | undefined {
    // Asked once per cached issuer after a move, nearly always for the same pair: merged once.
    const key = `${namespace} ${from} ${to}`;
    if (this.merged?.key === key && this.merged.history === this.history.get(namespace)?.at(-1)) return this.merged.change;
    const change = this.merge(namespace, from, to);
    this.merged = { key, history: this.history.get(namespace)?.at(-1), change };
    return change;
  }

  private merge(namespace: string, from: number, to: number): ViewChange | undefined {
    const history = this.history.get(namespace) ?? [];
    const start = history.findIndex((c) => c.from === from);
    if (start < 0) return undefined;
    // Only an unbroken run of changes from `from` to `to` says everything that changed.
    let end = start;
    while (history[end]!.to !== to) {
      const next = history[end + 1];
      if (!next || next.from !== history[end]!.to) return undefined;
      end++;
    }
    return mergeChanges(history.slice(start, end + 1));
  }

  /**
   * Carries an issuer's snapshot to `view` when nothing it read changed since it was built
   * (carry.ts), and says whether it could; false: the issuer is built again.
   */
  carry(snapshot: IssuerSnapshot, view: NamespaceView): boolean {
    return carryTo(snapshot, view, (from, to) => this.between(snapshot.namespace, from, to));
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
    this.history.clear();
  }
}
