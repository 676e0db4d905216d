import { KINDS, SOURCE_ANNOTATION, applyRank, canonicalJson, declarationOf, kindByName, type AnyObject, type DeclarationSource, type KindName } from '../api/index.ts';
import { AdminApiError, type AdminClient } from '../client/admin-client.ts';
import { readyCondition, setCondition, type Readiness, type ReadyReason } from './conditions.ts';

/** Annotation naming the controller that created an object; it deletes only what carries its own name. */
export const MANAGED_BY = 'gatehouse.dev/managed-by';

export interface ObjectKey {
  kind: KindName;
  namespace: string;
  name: string;
}

export function keyOf(k: ObjectKey): string {
  return `${k.kind} ${k.namespace}/${k.name}`;
}

export function objectKey(object: AnyObject): ObjectKey {
  return { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
}

/** Where a declaration was written, for messages (`file (document n)`). */
export interface Origin {
  file?: string;
  /** 1-based. */
  document?: number;
}

export interface DesiredObject {
  /** Parsed with `parseObject` (defaults applied, namespace filled in). */
  object: AnyObject;
  /** Sent with every write about this object and kept in its audit record (file, commit, author, …). */
  provenance: Record<string, string>;
  /** Shown in the object's status on the server. */
  source?: DeclarationSource;
  origin?: Origin;
}

/** A declaration the source could not turn into an object; `target` when at least its kind and name are known. */
export interface DeclarationError {
  target?: ObjectKey;
  label: string;
  reason: ReadyReason;
  message: string;
  origin?: Origin;
}

export interface DesiredState {
  objects: DesiredObject[];
  errors: DeclarationError[];
  /**
   * False when part of the input could not be read at all (a file that is not YAML): what it
   * declared is unknown, so nothing is deleted in that pass rather than deleting too much.
   */
  complete: boolean;
}

export type ObjectOutcome = 'created' | 'updated' | 'unchanged' | 'failed' | 'deleted';

export interface ObjectResult {
  key: ObjectKey;
  outcome: ObjectOutcome;
  readiness: Readiness;
  /** The object on the server after the pass, when it exists there. */
  server?: AnyObject;
  origin?: Origin;
}

export interface PassProblem {
  label: string;
  message: string;
  origin?: Origin;
}

export interface PassReport {
  declared: number;
  /** Declared objects in sync with the server after the pass. */
  applied: number;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
  statusWrites: number;
  /** Every write the pass made (applies, deletions, status): zero when the server already matched. */
  writes: number;
  problems: PassProblem[];
  results: ObjectResult[];
  /** Every object on the server after the pass, by key. */
  present: Map<string, AnyObject>;
  durationMs: number;
}

/** The server could not be reached or refused the controller's credentials: the pass stopped and should be retried. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

export interface ReconcilerOptions {
  client: AdminClient;
  /** This controller's identity, recorded in `gatehouse.dev/managed-by` on what it creates. */
  owner: string;
  /** `directory`, `git` or `kubernetes`: the provenance of deletions, which have no file. */
  source: string;
  /** Writes in flight at once within one dependency level. */
  concurrency?: number;
  now?: () => Date;
}

async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * Groups objects into levels that can be written concurrently: kinds in apply order, and within a
 * kind by how deep its references to the same kind go (sub-organizations after their parents,
 * clients after the clients they exchange tokens for).
 */
function levels<T>(items: readonly T[], objectOf: (item: T) => AnyObject): T[][] {
  const byKey = new Map(items.map((i) => [keyOf(objectKey(objectOf(i))), objectOf(i)]));
  const depth = new Map<string, number>();
  const depthOf = (object: AnyObject, seen: Set<string>): number => {
    const key = keyOf(objectKey(object));
    const known = depth.get(key);
    if (known !== undefined) return known;
    seen.add(key);
    let d = 0;
    for (const ref of kindByName(object.kind)!.references(object.spec)) {
      if (ref.kind !== object.kind) continue;
      const targetKey = keyOf({ kind: ref.kind, namespace: object.metadata.namespace ?? 'default', name: ref.name });
      const target = byKey.get(targetKey);
      if (target && !seen.has(targetKey)) d = Math.max(d, depthOf(target, seen) + 1);
    }
    seen.delete(key);
    depth.set(key, d);
    return d;
  };
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const object = objectOf(item);
    const rank = applyRank(object.kind) * 10_000 + depthOf(object, new Set());
    groups.set(rank, [...(groups.get(rank) ?? []), item]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, group]) => group);
}

/** Declared organizations whose parents lead back to themselves, with the cycle spelled out. */
function parentCycles(objects: readonly DesiredObject[]): Map<string, string> {
  const orgs = new Map<string, AnyObject>();
  for (const { object } of objects) if (object.kind === 'Organization') orgs.set(keyOf(objectKey(object)), object);
  const found = new Map<string, string>();
  for (const [key, org] of orgs) {
    const chain = [org.metadata.name];
    let current: AnyObject | undefined = org;
    while (current?.kind === 'Organization' && current.spec.parentRef) {
      const parent = current.spec.parentRef.name;
      chain.push(parent);
      if (parent === org.metadata.name) {
        found.set(key, `${keyOf(objectKey(org))}: spec.parentRef.name: makes a cycle of parents: ${chain.join(' → ')}`);
        break;
      }
      if (chain.length > 64) break;
      current = orgs.get(keyOf({ kind: 'Organization', namespace: org.metadata.namespace ?? 'default', name: parent }));
    }
  }
  return found;
}

function reasonOf(error: AdminApiError): ReadyReason {
  if (error.status === 422 && error.problem.title === 'Invalid reference') return 'InvalidReference';
  if (error.status === 400 || error.status === 422) return 'InvalidSpec';
  return 'ApplyFailed';
}

/** Transient failures and refused credentials end the pass: continuing would only fail the same way for every object. */
function isFatalForPass(error: unknown): error is AdminApiError {
  return error instanceof AdminApiError && (error.transient || error.status === 401 || error.status === 403);
}

/**
 * One level-triggered pass: reads the server through the admin API, applies only what differs
 * from the declarations in dependency order, deletes what this controller created and no longer
 * finds declared (in reverse order), and writes each object's Ready condition as its status.
 */
export class Reconciler {
  readonly owner: string;
  private readonly client: AdminClient;
  private readonly source: string;
  private readonly concurrency: number;
  private readonly now: () => Date;
  /** Objects seen in sync during this process: one of them missing later was deleted behind our back. */
  private readonly seen = new Set<string>();

  constructor(options: ReconcilerOptions) {
    this.client = options.client;
    this.owner = options.owner;
    this.source = options.source;
    this.concurrency = options.concurrency ?? 8;
    this.now = options.now ?? (() => new Date());
  }

  async reconcile(state: DesiredState): Promise<PassReport> {
    const started = performance.now();
    const report: PassReport = {
      declared: state.objects.length + state.errors.length,
      applied: 0,
      created: 0,
      updated: 0,
      unchanged: 0,
      deleted: 0,
      failed: 0,
      statusWrites: 0,
      writes: 0,
      problems: [],
      results: [],
      present: new Map(),
      durationMs: 0,
    };
    const server = await this.readServer();
    const fail = async (key: ObjectKey, readiness: Readiness, origin: Origin | undefined) => {
      report.failed++;
      report.problems.push({ label: keyOf(key), message: readiness.message, ...(origin ? { origin } : {}) });
      const current = server.get(keyOf(key));
      const writable = current && this.mayWrite(current);
      const after = writable ? await this.writeStatus(current, readiness, undefined, report) : current;
      report.results.push({ key, outcome: 'failed', readiness, ...(after ? { server: after } : {}), ...(origin ? { origin } : {}) });
    };

    const errorTargets = new Set<string>();
    for (const error of state.errors) {
      if (error.target) {
        errorTargets.add(keyOf(error.target));
        await fail(error.target, { ready: false, reason: error.reason, message: error.message }, error.origin);
      } else {
        report.failed++;
        report.problems.push({ label: error.label, message: error.message, ...(error.origin ? { origin: error.origin } : {}) });
      }
    }

    const cycles = parentCycles(state.objects);
    const valid: DesiredObject[] = [];
    for (const item of state.objects) {
      const cycle = cycles.get(keyOf(objectKey(item.object)));
      if (cycle) await fail(objectKey(item.object), { ready: false, reason: 'ParentCycle', message: cycle }, item.origin);
      else valid.push(item);
    }

    for (const level of levels(valid, (i) => i.object)) {
      await pool(level, this.concurrency, (item) => this.applyOne(item, server, report, fail));
    }

    const declared = new Set([...state.objects.map((i) => keyOf(objectKey(i.object))), ...errorTargets]);
    if (state.complete) {
      const orphans = [...server.values()].filter((o) => o.metadata.annotations?.[MANAGED_BY] === this.owner && !declared.has(keyOf(objectKey(o))));
      for (const level of levels(orphans, (o) => o).reverse()) {
        await pool(level, this.concurrency, (object) => this.deleteOne(object, server, report));
      }
    }

    report.writes = report.created + report.updated + report.deleted + report.statusWrites;
    report.present = server;
    report.durationMs = performance.now() - started;
    return report;
  }

  private async readServer(): Promise<Map<string, AnyObject>> {
    const server = new Map<string, AnyObject>();
    try {
      const lists = await Promise.all(KINDS.map((k) => this.client.list(k.kind)));
      for (const object of lists.flat()) server.set(keyOf(objectKey(object)), object);
    } catch (error) {
      throw new TransientError(`cannot read the server's objects: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return server;
  }

  /** A controller changes objects nobody owns (adopting them) and its own, never another controller's. */
  private mayWrite(current: AnyObject): boolean {
    const owner = current.metadata.annotations?.[MANAGED_BY];
    return owner === undefined || owner === this.owner;
  }

  private async applyOne(
    item: DesiredObject,
    server: Map<string, AnyObject>,
    report: PassReport,
    fail: (key: ObjectKey, readiness: Readiness, origin: Origin | undefined) => Promise<void>,
  ): Promise<void> {
    const key = objectKey(item.object);
    const k = keyOf(key);
    const current = server.get(k);
    const currentOwner = current?.metadata.annotations?.[MANAGED_BY];
    if (current && !this.mayWrite(current)) {
      await fail(key, { ready: false, reason: 'OwnedElsewhere', message: `${k} is managed by ${currentOwner}; this controller (${this.owner}) leaves it alone` }, item.origin);
      return;
    }
    // Ownership is recorded only on what this controller creates: an object it adopted stays unowned and so is never deleted by it.
    // A partner's portal connection, now committed (`gatehouse export`), is the exception: git
    // became its source of truth, so from now on it is this controller's, deleted when undeclared.
    const annotations: Record<string, string> = { ...(item.object.metadata.annotations ?? {}) };
    delete annotations[MANAGED_BY];
    delete annotations[SOURCE_ANNOTATION];
    const handedOver = current !== undefined && currentOwner === undefined && current.metadata.annotations?.[SOURCE_ANNOTATION] !== undefined;
    if (!current || currentOwner === this.owner || handedOver) annotations[MANAGED_BY] = this.owner;
    const desired = { ...item.object, metadata: { ...item.object.metadata, annotations } } as AnyObject;

    let object = current;
    let outcome: ObjectOutcome = 'unchanged';
    if (!current || declarationOf(current) !== declarationOf(desired)) {
      const reason = current ? (this.drifted(current) ? 'drift' : 'declared') : this.seen.has(k) ? 'drift' : 'declared';
      try {
        const result = await this.client.apply(desired, { ...item.provenance, reason, controller: this.owner });
        object = result.object;
        outcome = result.outcome;
        server.set(k, object);
      } catch (error) {
        if (isFatalForPass(error)) throw new TransientError(`${k}: ${error.message}`, { cause: error });
        const readiness: Readiness =
          error instanceof AdminApiError ? { ready: false, reason: reasonOf(error), message: error.message } : { ready: false, reason: 'ApplyFailed', message: `${k}: ${String(error)}` };
        await fail(key, readiness, item.origin);
        return;
      }
    }
    this.seen.add(k);
    report[outcome === 'created' ? 'created' : outcome === 'updated' ? 'updated' : 'unchanged']++;
    report.applied++;
    const readiness: Readiness = { ready: true, reason: 'Reconciled', message: `in sync with its declaration (generation ${object!.metadata.generation ?? 0})` };
    const after = await this.writeStatus(object!, readiness, item.source, report);
    report.results.push({ key, outcome, readiness, server: after, ...(item.origin ? { origin: item.origin } : {}) });
  }

  /**
   * Someone wrote the object after this controller last reported on it: the server's generation
   * moved past the one the controller's status observed, though the declaration did not change.
   */
  private drifted(current: AnyObject): boolean {
    const observed = (current.status as { observedGeneration?: number } | undefined)?.observedGeneration;
    return observed !== undefined && observed !== current.metadata.generation;
  }

  private async deleteOne(object: AnyObject, server: Map<string, AnyObject>, report: PassReport): Promise<void> {
    const key = objectKey(object);
    const k = keyOf(key);
    try {
      await this.client.delete(key.kind, key.namespace, key.name, { provenance: { source: this.source, reason: 'undeclared', controller: this.owner } });
      server.delete(k);
      this.seen.delete(k);
      report.deleted++;
      report.results.push({ key, outcome: 'deleted', readiness: { ready: false, reason: 'Deprovisioning', message: `${k} is no longer declared and was deleted` } });
    } catch (error) {
      if (isFatalForPass(error)) throw new TransientError(`${k}: ${error.message}`, { cause: error });
      const message = `${k} is no longer declared but could not be deleted: ${error instanceof Error ? error.message : String(error)}`;
      report.failed++;
      report.problems.push({ label: k, message });
      const readiness: Readiness = { ready: false, reason: 'DeleteFailed', message };
      const after = await this.writeStatus(object, readiness, undefined, report);
      report.results.push({ key, outcome: 'failed', readiness, server: after });
    }
  }

  /** Writes the Ready condition (and where the declaration came from) when it differs from what the server holds. */
  private async writeStatus(object: AnyObject, readiness: Readiness, source: DeclarationSource | undefined, report: PassReport): Promise<AnyObject> {
    const status = { ...((object.status ?? {}) as Record<string, unknown>) };
    // The server computes an organization's issuer on every read; it is not ours to store.
    if (object.kind === 'Organization') delete status.issuer;
    // Taken over from the portal: the runtime marker goes with the annotation.
    if ((status.source as { type?: string } | undefined)?.type === 'portal' && object.metadata.annotations?.[SOURCE_ANNOTATION] === undefined) delete status.source;
    const generation = object.metadata.generation;
    const conditions = status.conditions as Parameters<typeof setCondition>[0];
    const next: Record<string, unknown> = {
      ...status,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      conditions: setCondition(conditions, readyCondition(readiness, generation), this.now()),
      ...(source ? { source } : {}),
    };
    if (canonicalJson(next) === canonicalJson(status)) return object;
    const key = objectKey(object);
    try {
      const updated = await this.client.putStatus(key.kind, key.namespace, key.name, next);
      report.statusWrites++;
      return updated;
    } catch (error) {
      if (isFatalForPass(error)) throw new TransientError(`${keyOf(key)} status: ${error.message}`, { cause: error });
      // Gone between the read and the write (deleted meanwhile): the next pass sees it.
      if (error instanceof AdminApiError && error.status === 404) return object;
      throw error;
    }
  }
}
