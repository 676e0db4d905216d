import { KINDS, SOURCE_ANNOTATION, canonicalJson, declarationOf, diff, type AnyObject, type DeclarationSource } from '../api/index.ts';
import { AdminApiError, type AdminClient, type ApplyOutcome } from '../client/admin-client.ts';
import { driftedCondition, readyCondition, setCondition, type Readiness, type ReadyReason } from './conditions.ts';
import { keyOf, objectKey, parseKey, type DesiredObject, type DesiredState, type ObjectKey, type Origin } from './desired-state.ts';
import { levels, parentCycles, pool } from './ordering.ts';
import { MANAGED_BY, asWritten, mayWrite, orphansOf } from './ownership.ts';
import type { ObjectOutcome, PassReport } from './pass-report.ts';

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
  /**
   * Creates and updates of one level go to the server in bulk applies of at most this many
   * objects (one transaction each) when there are at least `bulkMin` of them; 0 turns bulk off.
   */
  bulkSize?: number;
  bulkMin?: number;
  now?: () => Date;
  /**
   * What to do with an object changed on the server behind the declaration's back: `correct`
   * (default) puts the declaration back, audited with reason `drift`; `report` leaves it, sets
   * its `Drifted` condition and reports it in the pass, for a person to decide.
   */
  drift?: DriftMode;
}

export type DriftMode = 'correct' | 'report';

/** Every object on the server, by key: what a pass (or a plan) compares the declarations with. */
export async function readServerObjects(client: AdminClient): Promise<Map<string, AnyObject>> {
  const server = new Map<string, AnyObject>();
  try {
    const lists = await Promise.all(KINDS.map((k) => client.list(k.kind)));
    for (const object of lists.flat()) server.set(keyOf(objectKey(object)), object);
  } catch (error) {
    throw new TransientError(`cannot read the server's objects: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return server;
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
  private readonly bulkSize: number;
  private readonly bulkMin: number;
  private readonly now: () => Date;
  readonly drift: DriftMode;
  private readonly pendingStatus: { key: ObjectKey; status: Record<string, unknown>; resolve: (object: AnyObject) => void; reject: (error: unknown) => void; report: PassReport }[] = [];
  /** Objects seen in sync during this process: one of them missing later was deleted behind our back. */
  private readonly seen = new Set<string>();

  constructor(options: ReconcilerOptions) {
    this.client = options.client;
    this.owner = options.owner;
    this.source = options.source;
    this.concurrency = options.concurrency ?? 8;
    this.bulkSize = options.bulkSize ?? 500;
    this.bulkMin = options.bulkMin ?? 8;
    this.now = options.now ?? (() => new Date());
    this.drift = options.drift ?? 'correct';
  }

  /**
   * A full pass: every declaration against every object on the server (the safety net that
   * catches drift and anything a keyed pass missed).
   */
  async reconcile(state: DesiredState): Promise<PassReport> {
    const started = performance.now();
    const server = await this.readServer();
    return this.pass(state, server, undefined, started);
  }

  /**
   * A keyed pass: only the objects of `keys` (`keyOf`), each read from the server by name,
   * applied or deleted as a full pass would. `state` needs to hold only those keys'
   * declarations (more is ignored); its `complete` still guards deletions. The cost is that of
   * the keys, not of the workspace.
   */
  async reconcileKeys(state: DesiredState, keys: ReadonlySet<string>): Promise<PassReport> {
    const started = performance.now();
    const server = new Map<string, AnyObject>();
    const targets = [...keys].map((k) => parseKey(k)).filter((k): k is ObjectKey => k !== undefined);
    try {
      await pool(targets, this.concurrency, async (key) => {
        const object = await this.client.get(key.kind, key.namespace, key.name);
        if (object) server.set(keyOf(key), object);
      });
    } catch (error) {
      throw new TransientError(`cannot read the server's objects: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const scoped: DesiredState = {
      objects: state.objects.filter((i) => keys.has(keyOf(objectKey(i.object)))),
      // A document whose object cannot be told stays a problem of every pass until it is fixed.
      errors: state.errors.filter((e) => !e.target || keys.has(keyOf(e.target))),
      complete: state.complete,
    };
    return this.pass(scoped, server, keys, started);
  }

  private async pass(state: DesiredState, server: Map<string, AnyObject>, keys: ReadonlySet<string> | undefined, started: number): Promise<PassReport> {
    const report: PassReport = {
      declared: state.objects.length + state.errors.length,
      applied: 0,
      created: 0,
      updated: 0,
      unchanged: 0,
      deleted: 0,
      failed: 0,
      drifted: 0,
      statusWrites: 0,
      writes: 0,
      problems: [],
      results: [],
      present: new Map(),
      ...(keys ? { keys } : {}),
      batches: 0,
      durationMs: 0,
    };
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
      const applied = await this.applyInBulk(level, server, report);
      await pool(
        level.filter((i) => !applied.has(keyOf(objectKey(i.object)))),
        this.concurrency,
        (item) => this.applyOne(item, server, report, fail, applied),
      );
      // Written already: what is left is each one's status, which goes out in bulk as well.
      const bulked = level.filter((i) => applied.has(keyOf(objectKey(i.object))));
      await pool(bulked, Math.max(1, bulked.length), (item) => this.applyOne(item, server, report, fail, applied));
    }

    const declared = new Set([...state.objects.map((i) => keyOf(objectKey(i.object))), ...errorTargets]);
    if (state.complete) {
      // A keyed pass deletes only among its keys: what the server holds under them is all it read.
      const orphans = orphansOf(server, declared, this.owner);
      for (const level of levels(orphans, (o) => o).reverse()) {
        await pool(level, this.concurrency, (object) => this.deleteOne(object, server, report));
      }
    }

    report.writes = report.created + report.updated + report.deleted + report.statusWrites;
    report.present = server;
    report.durationMs = performance.now() - started;
    return report;
  }

  /**
   * What a level needs written (created, or changed in its declaration and not drift to be
   * reported), sent in bulk applies of `bulkSize`, per namespace, in the level's order. A batch
   * the server refuses as a whole (one invalid object rolls it back) is left to `applyOne`,
   * object by object, so the one at fault is told apart and the others still converge.
   */
  private async applyInBulk(level: readonly DesiredObject[], server: Map<string, AnyObject>, report: PassReport): Promise<Map<string, { outcome: ApplyOutcome; object: AnyObject }>> {
    const applied = new Map<string, { outcome: ApplyOutcome; object: AnyObject }>();
    if (this.bulkSize <= 0) return applied;
    const byNamespace = new Map<string, { key: string; object: AnyObject; provenance: Record<string, string> }[]>();
    for (const item of level) {
      const k = keyOf(objectKey(item.object));
      const current = server.get(k);
      if (current && !this.mayWrite(current)) continue;
      const desired = asWritten(item.object, current, this.owner);
      if (current && declarationOf(current) === declarationOf(desired)) continue;
      const reason = this.reasonFor(k, current);
      if (reason === 'drift' && this.drift === 'report') continue;
      const namespace = item.object.metadata.namespace ?? 'default';
      const writes = byNamespace.get(namespace) ?? byNamespace.set(namespace, []).get(namespace)!;
      writes.push({ key: k, object: desired, provenance: { ...item.provenance, reason, controller: this.owner } });
    }
    for (const [namespace, writes] of byNamespace) {
      if (writes.length < this.bulkMin) continue;
      for (let i = 0; i < writes.length; i += this.bulkSize) {
        const chunk = writes.slice(i, i + this.bulkSize);
        try {
          const results = await this.client.applyMany(namespace, chunk);
          report.batches++;
          results.forEach((result, n) => applied.set(chunk[n]!.key, result));
        } catch (error) {
          if (isFatalForPass(error)) throw new TransientError(`bulk apply in ${namespace}: ${error.message}`, { cause: error });
          if (!(error instanceof AdminApiError)) throw error;
          // Refused as a whole: applyOne writes these one by one and reports the one at fault.
        }
      }
    }
    return applied;
  }

  private reasonFor(k: string, current: AnyObject | undefined): 'drift' | 'declared' {
    return current ? (this.drifted(current) ? 'drift' : 'declared') : this.seen.has(k) ? 'drift' : 'declared';
  }

  private readServer(): Promise<Map<string, AnyObject>> {
    return readServerObjects(this.client);
  }

  private mayWrite(current: AnyObject): boolean {
    return mayWrite(current, this.owner);
  }

  private async applyOne(item: DesiredObject, server: Map<string, AnyObject>, report: PassReport, fail: (key: ObjectKey, readiness: Readiness, origin: Origin | undefined) => Promise<void>, applied: ReadonlyMap<string, { outcome: ApplyOutcome; object: AnyObject }>): Promise<void> {
    const key = objectKey(item.object);
    const k = keyOf(key);
    const current = server.get(k);
    const currentOwner = current?.metadata.annotations?.[MANAGED_BY];
    if (current && !this.mayWrite(current)) {
      await fail(key, { ready: false, reason: 'OwnedElsewhere', message: `${k} is managed by ${currentOwner}; this controller (${this.owner}) leaves it alone` }, item.origin);
      return;
    }
    const desired = asWritten(item.object, current, this.owner);

    let object = current;
    let outcome: ObjectOutcome = 'unchanged';
    if (!current || declarationOf(current) !== declarationOf(desired)) {
      const reason = this.reasonFor(k, current);
      if (reason === 'drift' && this.drift === 'report') {
        await this.reportDrift(item, current, desired, report);
        return;
      }
      try {
        const result = applied.get(k) ?? (await this.client.apply(desired, { ...item.provenance, reason, controller: this.owner }));
        object = result.object;
        outcome = result.outcome;
        server.set(k, object);
      } catch (error) {
        if (isFatalForPass(error)) throw new TransientError(`${k}: ${error.message}`, { cause: error });
        const readiness: Readiness = error instanceof AdminApiError ? { ready: false, reason: reasonOf(error), message: error.message } : { ready: false, reason: 'ApplyFailed', message: `${k}: ${String(error)}` };
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
   * Drift mode `report`: the object was changed (or deleted) on the server, not in its
   * declaration. It is left as it is; the pass reports it, and its status says `Drifted=True`
   * naming the fields (never their values: some may be secret). Its observedGeneration stays
   * at the generation last reconciled, so it stays drifted until the declaration matches the
   * server again or a pass in mode `correct` puts the declaration back.
   */
  private async reportDrift(item: DesiredObject, current: AnyObject | undefined, desired: AnyObject, report: PassReport): Promise<void> {
    const key = objectKey(item.object);
    const k = keyOf(key);
    const remedy = 'drift is reported, not corrected (--drift=report): change the declaration to match, or run the controller with --drift=correct to put it back';
    report.drifted++;
    if (!current) {
      const message = `${k} was deleted on the server, not in its declaration; ${remedy}`;
      report.problems.push({ label: k, message, ...(item.origin ? { origin: item.origin } : {}) });
      report.results.push({ key, outcome: 'drifted', readiness: { ready: false, reason: 'Drifted', message }, ...(item.origin ? { origin: item.origin } : {}) });
      return;
    }
    const declared = (o: AnyObject) => ({ spec: o.spec, metadata: { labels: o.metadata.labels ?? {}, annotations: o.metadata.annotations ?? {} } });
    const fields = diff(declared(desired), declared(current)).map((c) => c.path);
    const message = `${k} differs from its declaration in ${fields.join(', ')} (changed on the server at generation ${current.metadata.generation ?? 0}); ${remedy}`;
    report.problems.push({ label: k, message, ...(item.origin ? { origin: item.origin } : {}) });
    const readiness: Readiness = { ready: false, reason: 'Drifted', message };
    const after = await this.writeStatus(current, readiness, item.source, report, { drifted: message });
    report.results.push({ key, outcome: 'drifted', readiness, server: after, ...(item.origin ? { origin: item.origin } : {}) });
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

  /**
   * A status write, gathered with the others made in the same turn of the event loop and sent
   * in bulk (per namespace, `bulkSize` at a time) when there are at least `bulkMin` of them. A
   * batch the server refuses as a whole is sent again one status at a time, so each answers for itself.
   */
  private putStatus(key: ObjectKey, status: Record<string, unknown>, report: PassReport): Promise<AnyObject> {
    if (this.bulkSize <= 0) return this.client.putStatus(key.kind, key.namespace, key.name, status);
    return new Promise((resolve, reject) => {
      this.pendingStatus.push({ key, status, resolve, reject, report });
      if (this.pendingStatus.length === 1) setImmediate(() => void this.flushStatuses());
    });
  }

  private async flushStatuses(): Promise<void> {
    const pending = this.pendingStatus.splice(0);
    const byNamespace = new Map<string, typeof pending>();
    for (const p of pending) (byNamespace.get(p.key.namespace) ?? byNamespace.set(p.key.namespace, []).get(p.key.namespace)!).push(p);
    const one = (p: (typeof pending)[number]) => this.client.putStatus(p.key.kind, p.key.namespace, p.key.name, p.status).then(p.resolve, p.reject);
    await Promise.all(
      [...byNamespace].map(async ([namespace, writes]) => {
        if (writes.length < this.bulkMin) return Promise.all(writes.map(one));
        for (let i = 0; i < writes.length; i += this.bulkSize) {
          const chunk = writes.slice(i, i + this.bulkSize);
          try {
            const updated = await this.client.putStatuses(
              namespace,
              chunk.map((p) => ({ kind: p.key.kind, name: p.key.name, status: p.status })),
            );
            chunk[0]!.report.batches++;
            chunk.forEach((p, n) => p.resolve(updated[n]!));
          } catch (error) {
            if (error instanceof AdminApiError && !isFatalForPass(error)) await Promise.all(chunk.map(one));
            else for (const p of chunk) p.reject(error);
          }
        }
      }),
    );
  }

  /**
   * Writes the Ready condition (and where the declaration came from) when it differs from what the
   * server holds. `drifted`: the object is left drifted (see reportDrift); otherwise a `Drifted`
   * condition left from such a pass is turned False, and none is added where there was none.
   */
  private async writeStatus(object: AnyObject, readiness: Readiness, source: DeclarationSource | undefined, report: PassReport, options: { drifted?: string } = {}): Promise<AnyObject> {
    const status = { ...((object.status ?? {}) as Record<string, unknown>) };
    // The server computes an organization's issuer on every read; it is not ours to store.
    if (object.kind === 'Organization') delete status.issuer;
    // So are client suspensions (the risk engine's runtime state).
    delete status.suspension;
    delete status.suspendedClients;
    // Taken over from the portal: the runtime marker goes with the annotation.
    if ((status.source as { type?: string } | undefined)?.type === 'portal' && object.metadata.annotations?.[SOURCE_ANNOTATION] === undefined) delete status.source;
    const now = this.now();
    const observed = options.drifted !== undefined ? (status.observedGeneration as number | undefined) : object.metadata.generation;
    let conditions = setCondition(status.conditions as Parameters<typeof setCondition>[0], readyCondition(readiness, observed), now);
    const wasDrifted = conditions.some((c) => c.type === 'Drifted');
    if (options.drifted !== undefined || wasDrifted) conditions = setCondition(conditions, driftedCondition(options.drifted, observed), now);
    const next: Record<string, unknown> = {
      ...status,
      ...(observed !== undefined ? { observedGeneration: observed } : {}),
      conditions,
      ...(source ? { source } : {}),
    };
    if (canonicalJson(next) === canonicalJson(status)) return object;
    const key = objectKey(object);
    try {
      const updated = await this.putStatus(key, next, report);
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
