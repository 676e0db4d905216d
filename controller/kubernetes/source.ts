import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, makeInformer, setHeaderOptions, type Informer, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, KINDS, ValidationError, canonicalJson, kindByName, parseObject, type Condition, type KindName } from '../../api/index.ts';
import { readyCondition, setCondition, type Readiness } from '../conditions.ts';
import { keyOf, parseKey, type DeclarationError, type DesiredObject, type DesiredState, type ObjectKey } from '../desired-state.ts';
import { MANAGED_BY } from '../ownership.ts';
import type { ObjectResult, PassReport } from '../pass-report.ts';
import type { ClientSecretDelivery } from './client-secrets.ts';
import type { RefVerdict, SecretRefSync } from './secret-refs.ts';

export const FINALIZER = 'gatehouse.dev/deprovision';

/** Annotations other tools keep on every object; they are not part of what the declaration says. */
const BOOKKEEPING = /^(kubectl\.kubernetes\.io\/|argocd\.argoproj\.io\/|kustomize\.toolkit\.fluxcd\.io\/|meta\.helm\.sh\/|deployment\.kubernetes\.io\/)/;

export interface CustomResource extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string };
  spec?: unknown;
  status?: { observedGeneration?: number; conditions?: Condition[]; [key: string]: unknown };
}

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** Called when the whole state must be read again (an informer listed). */
  onChange: () => void;
  /**
   * Called with the key (`keyOf`) of a resource added, deleted, or changed in what it declares
   * (generation, labels, annotations, finalizers, deletion); a change of its status alone is not
   * one. Without it every event calls `onChange`.
   */
  onKeys?: (keys: string[]) => void;
  onError?: (error: unknown) => void;
  component?: string;
  now?: () => Date;
  /** Delivers confidential clients' secrets into Secrets; a Client is Ready only once its Secret is in place. */
  clientSecrets?: ClientSecretDelivery;
  /** Copies the Secrets IdPConnections reference into the server; a connection is Ready only once its secret is there. */
  secretRefs?: SecretRefSync;
}

const statusCode = (error: unknown): number | undefined => (error as { code?: number }).code;

/**
 * Gatehouse custom resources as the desired state: one informer (list, then watch from the
 * list's resourceVersion, re-listing after 410 Gone) per kind. After each pass it writes each
 * resource's Ready condition through the status subresource, records Events for failures,
 * and keeps a finalizer on every resource so deleting one deprovisions it in the server first.
 */
export class KubernetesSource {
  private readonly options: KubernetesSourceOptions;
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly informers = new Map<KindName, Informer<CustomResource> & ObjectCache<CustomResource>>();
  private readonly synced = new Set<KindName>();
  private readonly restarts = new Map<KindName, NodeJS.Timeout>();
  private readonly failures = new Map<KindName, number>();
  private stopped = false;

  constructor(options: KubernetesSourceOptions) {
    this.options = options;
    this.custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all(KINDS.map((def) => this.startInformer(def.kind)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.restarts.values()) clearTimeout(t);
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  private async startInformer(kind: KindName): Promise<void> {
    const def = kindByName(kind)!;
    const { namespace } = this.options;
    const path = namespace ? `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${def.plural}` : `/apis/${API_GROUP}/${API_VERSION}/${def.plural}`;
    const list = () =>
      (namespace ? this.custom.listNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace, plural: def.plural }) : this.custom.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: def.plural })) as Promise<{ items: CustomResource[]; metadata?: { resourceVersion?: string } }>;
    let informer = this.informers.get(kind);
    if (!informer) {
      informer = makeInformer<CustomResource>(this.options.kubeConfig, path, list);
      for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, (cr) => this.changedResource(kind, cr, verb));
      // The informer stops on any error but 410 (which it handles by re-listing): restart it with backoff.
      informer.on('error', (error) => {
        this.synced.delete(kind);
        this.options.onError?.(error);
        this.scheduleRestart(kind);
      });
      this.informers.set(kind, informer);
    }
    try {
      await informer.start();
      this.synced.add(kind);
      this.failures.set(kind, 0);
      this.options.onChange();
    } catch (error) {
      this.options.onError?.(error);
      this.scheduleRestart(kind);
    }
  }

  /** What of a resource the controller acts on; its status (which the controller writes itself) is left out. */
  private readonly fingerprints = new Map<string, string>();

  private changedResource(kind: KindName, cr: CustomResource, verb: 'add' | 'update' | 'delete'): void {
    const { onKeys } = this.options;
    if (!onKeys) {
      this.options.onChange();
      return;
    }
    const key = keyOf({ kind, namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name });
    const { generation, deletionTimestamp, labels, annotations, finalizers } = cr.metadata;
    const fingerprint = canonicalJson({ generation, deletionTimestamp, labels, annotations, finalizers, spec: cr.spec });
    if (verb === 'delete') this.fingerprints.delete(key);
    else if (this.fingerprints.get(key) === fingerprint) return;
    else this.fingerprints.set(key, fingerprint);
    onKeys([key]);
  }

  private scheduleRestart(kind: KindName): void {
    if (this.stopped || this.restarts.has(kind)) return;
    const failures = (this.failures.get(kind) ?? 0) + 1;
    this.failures.set(kind, failures);
    const wait = Math.random() * Math.min(30_000, 250 * 2 ** failures);
    const timer = setTimeout(() => {
      this.restarts.delete(kind);
      if (!this.stopped) void this.startInformer(kind);
    }, wait);
    timer.unref();
    this.restarts.set(kind, timer);
  }

  /** Every resource the informers hold, with its kind. */
  resources(): { kind: KindName; cr: CustomResource }[] {
    return [...this.informers.entries()].flatMap(([kind, informer]) => informer.list().map((cr) => ({ kind, cr })));
  }

  /** Adds the finalizer where it is missing. A resource that arrives during a pass gets it on the next one; until then, level-triggered deletion still deprovisions it if it disappears. */
  async ensureFinalizers(): Promise<void> {
    for (const { kind, cr } of this.resources()) {
      if (cr.metadata.deletionTimestamp || cr.metadata.finalizers?.includes(FINALIZER)) continue;
      await this.patch(kind, cr, { metadata: { finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER], resourceVersion: cr.metadata.resourceVersion } });
    }
  }

  /** The resources of some keys (`keyOf`) from the informers' caches, each with the finalizer in place. */
  private resourcesOf(keys: ReadonlySet<string>): { kind: KindName; cr: CustomResource }[] {
    const out: { kind: KindName; cr: CustomResource }[] = [];
    for (const key of keys) {
      const k = parseKey(key);
      const cr = k ? this.informers.get(k.kind)?.get(k.name, k.namespace) : undefined;
      if (k && cr) out.push({ kind: k.kind, cr });
    }
    return out;
  }

  /** `read()` for some keys only: what a keyed pass reconciles. */
  async readKeys(keys: ReadonlySet<string>): Promise<DesiredState> {
    const resources = this.resourcesOf(keys);
    for (const { kind, cr } of resources) {
      if (cr.metadata.deletionTimestamp || cr.metadata.finalizers?.includes(FINALIZER)) continue;
      await this.patch(kind, cr, { metadata: { finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER], resourceVersion: cr.metadata.resourceVersion } });
    }
    return this.desiredOf(resources);
  }

  read(): DesiredState {
    return this.desiredOf(this.resources());
  }

  private desiredOf(resources: readonly { kind: KindName; cr: CustomResource }[]): DesiredState {
    const objects: DesiredObject[] = [];
    const errors: DeclarationError[] = [];
    for (const { kind, cr } of resources) {
      if (cr.metadata.deletionTimestamp) continue; // being deleted: no longer declared, so the reconciler deprovisions it
      const namespace = cr.metadata.namespace ?? 'default';
      const target: ObjectKey = { kind, namespace, name: cr.metadata.name };
      const provenance: Record<string, string> = { source: 'kubernetes', uid: cr.metadata.uid ?? '', resourceVersion: cr.metadata.resourceVersion ?? '', generation: String(cr.metadata.generation ?? '') };
      try {
        objects.push({ object: parseObject(toDeclaration(cr, kind), { defaultNamespace: namespace }), provenance, source: { type: 'kubernetes' } });
      } catch (error) {
        errors.push({ target, label: keyOf(target), reason: 'InvalidSpec', message: error instanceof ValidationError ? error.message : String(error) });
      }
    }
    // Until every informer has listed, what is missing from the caches may still exist: delete nothing.
    return { objects, errors, complete: KINDS.every((k) => this.synced.has(k.kind)) };
  }

  /**
   * Mirrors a pass into the cluster: Ready conditions on each resource (status subresource,
   * merge patch, only when changed), a Warning Event when a resource turns not Ready, and the
   * finalizer removed once a deleted resource is gone from the server.
   */
  async afterPass(report: PassReport, owner: string): Promise<void> {
    const results = new Map(report.results.map((r) => [keyOf(r.key), r]));
    const now = (this.options.now ?? (() => new Date()))();
    const refs = await this.syncSecretRefs(results);
    // The server computes ConnectionReady on read, and a write's answer does not carry it: a
    // connection written (or whose secret was copied) this pass is read again in the next one.
    const again = report.results.filter((r) => r.key.kind === 'IdPConnection' && (r.outcome === 'created' || r.outcome === 'updated' || refs.get(keyOf(r.key))?.notice)).map((r) => keyOf(r.key));
    // After a keyed pass only its keys: what the server holds for the others was not read.
    for (const { kind, cr } of report.keys ? this.resourcesOf(report.keys) : this.resources()) {
      const key = keyOf({ kind, namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name });
      const result = results.get(key);
      if (cr.metadata.deletionTimestamp) {
        if (!cr.metadata.finalizers?.includes(FINALIZER)) continue;
        // Gone from the server, or there but not this controller's to delete (it adopted it): nothing holds the resource back.
        const stillOurs = report.present.get(key)?.metadata.annotations?.[MANAGED_BY] === owner;
        if (!stillOurs) {
          await this.patch(kind, cr, { metadata: { finalizers: cr.metadata.finalizers.filter((f) => f !== FINALIZER), resourceVersion: cr.metadata.resourceVersion } });
        } else if (result) {
          await this.writeStatus(kind, cr, result.readiness, now);
        }
        continue;
      }
      if (!result) continue;
      if (kind === 'Client') await this.writeClientStatus(cr, result, now);
      else if (kind === 'IdPConnection') await this.writeConnectionStatus(cr, result, refs.get(key), now);
      else await this.writeStatus(kind, cr, result.readiness, now, {}, serverConditions(kind, result));
    }
    if (again.length > 0) this.options.onKeys?.(again);
  }

  /**
   * Copies referenced Secrets for every IdPConnection the pass applied or tried to (an invalid
   * spec is skipped: its reference cannot be trusted). A failure here is reported per connection,
   * never thrown: the rest of the pass's statuses must still be written.
   */
  private async syncSecretRefs(results: Map<string, ObjectResult>): Promise<Map<string, RefVerdict>> {
    if (!this.options.secretRefs) return new Map();
    const connections = this.resources()
      .filter(({ kind, cr }) => kind === 'IdPConnection' && !cr.metadata.deletionTimestamp)
      .map(({ cr }) => cr)
      .filter((cr) => results.get(keyOf({ kind: 'IdPConnection', namespace: cr.metadata.namespace ?? 'default', name: cr.metadata.name }))?.readiness.reason !== 'InvalidSpec');
    return this.options.secretRefs.sync(connections);
  }

  /** A connection the server accepted is Ready only once the secret it references is in the server too. */
  private async writeConnectionStatus(cr: CustomResource, result: ObjectResult, verdict: RefVerdict | undefined, now: Date): Promise<void> {
    const readiness = result.readiness.ready && verdict?.readiness ? verdict.readiness : result.readiness;
    if (verdict?.notice) await this.event(cr, { type: 'Normal', ...verdict.notice }, now);
    await this.writeStatus('IdPConnection', cr, readiness, now, {}, serverConditions('IdPConnection', result));
  }

  /** A Client's status also carries its outputs: client id, issuer and, for confidential clients, the Secret holding its credentials. */
  private async writeClientStatus(cr: CustomResource, result: ObjectResult, now: Date): Promise<void> {
    let readiness = result.readiness;
    const outputs: Record<string, string | null> = {};
    const server = result.server;
    if (server) {
      const status = (server.status ?? {}) as { clientId?: unknown; issuer?: unknown };
      if (typeof status.clientId === 'string') outputs.clientId = status.clientId;
      if (typeof status.issuer === 'string') outputs.issuer = status.issuer;
    }
    if (server && readiness.ready && this.options.clientSecrets) {
      const delivery = await this.options.clientSecrets.deliver(cr, server, result.outcome);
      Object.assign(outputs, delivery.outputs);
      if (delivery.readiness) readiness = delivery.readiness;
      if (delivery.notice) await this.event(cr, { type: 'Normal', ...delivery.notice }, now);
    }
    await this.writeStatus('Client', cr, readiness, now, outputs, serverConditions('Client', result));
  }

  /** `outputs`: status fields to set, or to remove when null; `mirrored`: conditions the server computes, copied as they are. */
  private async writeStatus(kind: KindName, cr: CustomResource, readiness: Readiness, now: Date, outputs: Record<string, string | null> = {}, mirrored: Condition[] = []): Promise<void> {
    const generation = cr.metadata.generation;
    const current = cr.status ?? {};
    let conditions = setCondition(current.conditions, readyCondition(readiness, generation), now);
    for (const c of mirrored) conditions = setCondition(conditions, { type: c.type, status: c.status, reason: c.reason, message: c.message, ...(c.observedGeneration !== undefined ? { observedGeneration: c.observedGeneration } : {}) }, now);
    const next: Record<string, unknown> = { ...current, ...(generation !== undefined ? { observedGeneration: generation } : {}), conditions };
    const patch: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(outputs)) {
      if (value === null) {
        if (!(field in next)) continue;
        delete next[field];
        patch[field] = null; // merge patch removes a field only when told to with null
      } else {
        next[field] = value;
      }
    }
    if (canonicalJson(next) === canonicalJson(current)) return;
    const def = kindByName(kind)!;
    try {
      await this.custom.patchNamespacedCustomObjectStatus({ group: API_GROUP, version: API_VERSION, namespace: cr.metadata.namespace ?? 'default', plural: def.plural, name: cr.metadata.name, body: { status: { ...next, ...patch } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (error) {
      if (statusCode(error) !== 404) this.options.onError?.(error);
      return;
    }
    const before = current.conditions?.find((c) => c.type === 'Ready');
    if (!readiness.ready && (before?.status !== 'False' || before.reason !== readiness.reason || before.message !== readiness.message)) {
      await this.event(cr, { type: 'Warning', reason: readiness.reason, message: readiness.message }, now);
    }
  }

  private async event(cr: CustomResource, what: { type: 'Warning' | 'Normal'; reason: string; message: string }, now: Date): Promise<void> {
    const namespace = cr.metadata.namespace ?? 'default';
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${cr.metadata.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, namespace },
          involvedObject: { apiVersion: cr.apiVersion, kind: cr.kind, name: cr.metadata.name, namespace, uid: cr.metadata.uid, resourceVersion: cr.metadata.resourceVersion },
          type: what.type,
          reason: what.reason,
          message: what.message,
          source: { component: this.options.component ?? 'gatehouse-controller' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private async patch(kind: KindName, cr: CustomResource, body: object): Promise<void> {
    try {
      await this.custom.patchNamespacedCustomObject({ group: API_GROUP, version: API_VERSION, namespace: cr.metadata.namespace ?? 'default', plural: kindByName(kind)!.plural, name: cr.metadata.name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (error) {
      // 409: changed since the informer saw it; 404: gone. The next pass works from the newer state.
      const code = statusCode(error);
      if (code !== 409 && code !== 404) this.options.onError?.(error);
    }
  }
}

/** The declaration inside a custom resource: what api/ accepts, without the API server's bookkeeping. */
export function toDeclaration(cr: CustomResource, kind: KindName): unknown {
  const annotations = Object.fromEntries(Object.entries(cr.metadata.annotations ?? {}).filter(([k]) => !BOOKKEEPING.test(k)));
  return {
    apiVersion: cr.apiVersion,
    kind: cr.kind ?? kind,
    metadata: {
      name: cr.metadata.name,
      ...(cr.metadata.namespace ? { namespace: cr.metadata.namespace } : {}),
      ...(cr.metadata.labels && Object.keys(cr.metadata.labels).length > 0 ? { labels: cr.metadata.labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: cr.spec,
  };
}

export { KubeConfig };

/**
 * Conditions the server owns and computes on read, shown on the resource too so Argo CD
 * and Flux users see them: an IdPConnection's `ConnectionReady` (can it sign anybody in).
 * The controller's own verdict stays in `Ready`.
 */
function serverConditions(kind: KindName, result: ObjectResult): Condition[] {
  if (!result.server) return [];
  const conditions = (result.server.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  // Drifted (drift mode `report`) is the controller's verdict on the server object: the resource shows it too.
  return conditions.filter((c) => c.type === 'Drifted' || (kind === 'IdPConnection' && c.type === 'ConnectionReady'));
}
