import { randomUUID } from 'node:crypto';
import { GROUP_VERSION, KINDS, ValidationError, clientIdFor, issuerPath, applyRank, kindByName, declarationOf, parseObject, zodErrors, type AnyObject, type ClientObject, type Condition, type KindName, type OrganizationObject } from '../../api/index.ts';
import { diff, redact } from '../audit/changes.ts';
import type { Clock } from '../clock.ts';
import type { ConfigEvents } from '../events.ts';
import type { ConfigChange, Repositories, Store, StoredObject } from '../store/index.ts';
import type { ChangeContext } from '../changes.ts';
import { BadRequest, Conflict, InvalidObject, Problem, notFound } from '../errors.ts';
import { checkReferences } from './admission.ts';
import { retireDeclaredUser, syncDeclaredUser } from './declared-users.ts';
import { dependantClosure } from './dependants.ts';
import { organizationOf } from './scope.ts';
import { followerOf, giveFollower, namespaceSnapshot } from './snapshot.ts';
import { ClientSecrets } from '../clients/secrets.ts';
import { connectionEndpoints } from '../broker/endpoints.ts';
import { pullKillSwitch } from '../governance/kill-switch.ts';
import { loadChains, loadNamespace } from '../governance/organizations.ts';
import { endClientTokens, endConnectionTokens, endLapsedTokens, endOrganizationTokens, endUserTokens } from '../governance/token-ends.ts';
import { DOMAIN_INDEX } from '../governance/domain-admission.ts';
import type { DomainIndex } from '../governance/domain-index.ts';

export type { ChangeContext };

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

export interface ApplyResult {
  outcome: ApplyOutcome;
  object: AnyObject;
}

function sameDeclaration(a: AnyObject, b: AnyObject): boolean {
  return declarationOf(a) === declarationOf(b);
}

/**
 * Declarative, idempotent writes of the api/ kinds: validation, reference checks,
 * generations and the audit record, all in one transaction. The admin API, the
 * boot-time loader and (through the admin API) the controller and Pulumi provider
 * all change objects through here.
 */
export class ObjectService {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly urls: { readonly publicUrl: string };

  /** `publicUrl` is read on every use, so a server bound to port 0 can fill it in after listening. */
  private readonly events: ConfigEvents | undefined;

  constructor(options: { store: Store; clock: Clock; publicUrl: string; events?: ConfigEvents }) {
    this.store = options.store;
    this.clock = options.clock;
    this.urls = options;
    this.events = options.events;
  }

  /**
   * Each namespace's email-domain index as a write left it, with the configuration version it is
   * current at. A write takes it out (so a rollback cannot leave it half-changed) and uses it when
   * the version is still that one, which no other writer (another replica included) changed; it
   * puts it back after committing. Otherwise the write builds it from the store.
   */
  private readonly domainIndexes = new Map<string, { version: number; index: DomainIndex }>();

  /** The repositories a write of `namespace` runs with: its reads of the namespace from one snapshot. */
  private async snapshotIn(repo: Repositories, namespace: string): Promise<Repositories> {
    const objects = namespaceSnapshot(repo.objects, namespace);
    const kept = this.domainIndexes.get(namespace);
    if (kept) {
      this.domainIndexes.delete(namespace);
      await repo.objects.lockNamespace(namespace);
      if ((await repo.objects.configVersions()).get(namespace) === kept.version) giveFollower(objects, DOMAIN_INDEX, kept.index);
    }
    return { ...repo, objects };
  }

  /** At the end of a write's transaction (the namespace still locked): the index to keep once it commits. */
  private async keepable(tx: Repositories, namespace: string): Promise<{ version: number; index: DomainIndex } | undefined> {
    const index = followerOf<DomainIndex>(tx.objects, DOMAIN_INDEX);
    if (!index) return undefined;
    const version = (await tx.objects.configVersions()).get(namespace);
    return version === undefined ? undefined : { version, index };
  }

  private keep(namespace: string, kept: { version: number; index: DomainIndex } | undefined): void {
    if (kept) this.domainIndexes.set(namespace, kept);
  }

  /** Tells this process's issuers that a namespace's configuration changed (other replicas poll the version). */
  notifyChanged(namespace: string): void {
    this.events?.emit('changed', namespace);
  }

  private changed<T>(namespace: string, result: T): T {
    this.events?.emit('changed', namespace);
    return result;
  }

  private get publicUrl(): string {
    return this.urls.publicUrl.replace(/\/+$/, '');
  }

  /**
   * Creates or replaces an object. The same declaration twice changes nothing and writes no audit record.
   * `dryRun` runs the whole admission (validation, references, domains) and answers what the write
   * would be, but writes, audits and ends nothing: `gatehouse plan` relies on that.
   */
  async apply(input: unknown, context: ChangeContext, target?: { namespace: string; kind?: KindName; name?: string }, options: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    const object = parseObject(input, target ? { defaultNamespace: target.namespace } : {});
    const namespace = object.metadata.namespace ?? 'default';
    const label = `${object.kind} ${namespace}/${object.metadata.name}`;
    if (target) {
      if (object.metadata.namespace !== target.namespace) {
        throw new BadRequest(`${label}: metadata.namespace does not match the namespace in the URL (${target.namespace})`, [{ path: 'metadata.namespace', message: `must be "${target.namespace}"` }], label);
      }
      if (target.kind && object.kind !== target.kind) {
        throw new BadRequest(`${label}: kind does not match the URL (${target.kind})`, [{ path: 'kind', message: `must be "${target.kind}"` }], label);
      }
      if (target.name && object.metadata.name !== target.name) {
        throw new BadRequest(`${label}: metadata.name does not match the name in the URL (${target.name})`, [{ path: 'metadata.name', message: `must be "${target.name}"` }], label);
      }
    }
    object.metadata.namespace = namespace;

    // One read of the namespace's organizations and templates per write: the domain admission,
    // the standing before and the standing after all read them through the snapshot.
    const { result, kept } = await this.store.transaction(async (repo) => {
      const tx = await this.snapshotIn(repo, namespace);
      const result = await this.applyIn(tx, object, label, context, options);
      return { result, kept: await this.keepable(tx, namespace) };
    });
    this.keep(namespace, kept);
    if ('dryRun' in result) return { outcome: result.outcome, object: result.object };
    return result.outcome === 'unchanged' ? result : this.changed(namespace, result);
  }

  /**
   * Applies several objects of one namespace in one transaction, in the order given (so an
   * object may reference one earlier in the list): each gets exactly the admission and the
   * audit record a single PUT gives it. All or nothing: the first object refused rolls the whole
   * batch back and the error names it (`item`, `object`, field paths). Standing (contracts,
   * parents, lifecycle) is judged once across the batch. With `dryRun` each object's admission
   * runs against the server as it is, nothing is written.
   */
  async applyMany(namespace: string, items: readonly { object: unknown; provenance?: Record<string, string> }[], context: ChangeContext, options: { dryRun?: boolean } = {}): Promise<ApplyResult[]> {
    const seen = new Map<string, number>();
    const parsed = items.map((item, i) => {
      try {
        const object = parseObject(item.object, { defaultNamespace: namespace });
        const label = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
        if (object.metadata.namespace !== namespace) {
          throw new BadRequest(`${label}: metadata.namespace does not match the namespace in the URL (${namespace})`, [{ path: 'metadata.namespace', message: `must be "${namespace}"` }], label);
        }
        const earlier = seen.get(label);
        if (earlier !== undefined) throw new BadRequest(`${label} appears twice in the batch (also item ${earlier})`, [{ path: 'metadata.name', message: 'appears twice in the batch' }], label);
        seen.set(label, i);
        const itemContext: ChangeContext = { actor: context.actor, ...(context.provenance || item.provenance ? { provenance: { ...context.provenance, ...item.provenance } } : {}) };
        return { object, label, context: itemContext };
      } catch (error) {
        throw itemProblem(i, error);
      }
    });
    const dryRun = options.dryRun === true;
    const { out: results, kept } = await this.store.transaction(async (repo) => {
      const tx = await this.snapshotIn(repo, namespace);
      const judgesStanding = !dryRun && parsed.some((p) => p.object.kind === 'Organization' || p.object.kind === 'Workspace');
      const standingBefore = judgesStanding ? await loadNamespace(tx, namespace) : undefined;
      const batch = { pulled: [] as string[] };
      const out: ApplyResult[] = [];
      for (const [i, p] of parsed.entries()) {
        try {
          const result = await this.applyIn(tx, p.object, p.label, p.context, { dryRun, batch });
          out.push({ outcome: result.outcome, object: result.object });
        } catch (error) {
          throw itemProblem(i, error);
        }
      }
      if (standingBefore && out.some((r) => r.outcome !== 'unchanged')) await endLapsedTokens(tx, standingBefore, this.clock.now(), context, batch.pulled);
      return { out, kept: await this.keepable(tx, namespace) };
    });
    this.keep(namespace, kept);
    if (!dryRun && results.some((r) => r.outcome !== 'unchanged')) this.notifyChanged(namespace);
    return results;
  }

  /**
   * One object's admission and write inside a transaction. In a `batch` (applyMany) the
   * standing of the namespace's organizations is judged once, across the whole batch, by the
   * caller; the organizations the kill switch pulled are collected for it.
   */
  private async applyIn(repo: Repositories, object: AnyObject, label: string, context: ChangeContext, options: { dryRun?: boolean; batch?: { pulled: string[] } }): Promise<ApplyResult | (ApplyResult & { dryRun: true })> {
    const namespace = object.metadata.namespace!;
    await checkReferences(repo, object, label);
    const existing = await repo.objects.get(object.kind, namespace, object.metadata.name);
    if (existing && sameDeclaration(existing.object, object)) {
      return { outcome: 'unchanged' as const, object: this.present(existing) };
    }
    const now = this.clock.now();
    // Standing is judged across the namespace (parents, the Workspace's lifecycle): as it was before this change.
    // An Organization's write changes the standing of nothing but itself and those below it.
    const below = object.kind === 'Organization' ? followerOf<DomainIndex>(repo.objects, DOMAIN_INDEX)?.withDescendants(object.metadata.name) : undefined;
    const standingBefore = options.batch === undefined && (object.kind === 'Organization' || object.kind === 'Workspace') ? await (below ? loadChains(repo, namespace, below) : loadNamespace(repo, namespace)) : undefined;
    const userBefore = object.kind === 'User' ? await repo.users.find(namespace, object.metadata.name) : undefined;
    const generation = (existing?.generation ?? 0) + 1;
    const stored: StoredObject = {
      uid: existing?.uid ?? randomUUID(),
      generation,
      status: existing?.status ?? null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      object: {
        ...object,
        metadata: {
          ...object.metadata,
          namespace,
          generation,
          creationTimestamp: new Date(existing?.createdAt ?? now).toISOString(),
        },
        status: undefined,
      } as AnyObject,
    };
    delete stored.object.status;
    if (options.dryRun) return { outcome: existing ? ('updated' as const) : ('created' as const), object: this.present({ ...stored, status: existing?.status ?? null }), dryRun: true };
    await repo.objects.put(stored);
    await repo.objects.setReferences(object.kind, namespace, object.metadata.name, kindByName(object.kind)!.references(object.spec));
    await repo.objects.bumpConfigVersion(namespace, [{ kind: object.kind, name: object.metadata.name }]);
    if (object.kind === 'User') await syncDeclaredUser(repo, object, now);
    const outcome: ApplyOutcome = existing ? 'updated' : 'created';
    await repo.audit.append(
      {
        action: `${object.kind}.${outcome}`,
        actor: context.actor,
        namespace,
        organization: organizationOf(object),
        kind: object.kind,
        name: object.metadata.name,
        data: {
          generation,
          changes: diff(existing ? { spec: existing.object.spec, metadata: pickMeta(existing.object) } : { spec: {}, metadata: {} }, { spec: object.spec, metadata: pickMeta(object) }),
          ...(context.provenance ? { provenance: redact(context.provenance) } : {}),
        },
      },
      now,
    );
    const wasSuspended = (existing?.object as OrganizationObject | undefined)?.spec.suspended === true;
    let pulled: string[] = [];
    if (object.kind === 'Organization' && object.spec.suspended && !wasSuspended) {
      pulled = (await pullKillSwitch(repo, { namespace, organization: object.metadata.name, actor: context.actor, provenance: context.provenance, now })).organizations;
    }
    if (standingBefore) await endLapsedTokens(repo, standingBefore, now, context, pulled);
    options.batch?.pulled.push(...pulled);
    if (object.kind === 'User' && userBefore?.active && !object.spec.active) {
      const revoked = await endUserTokens(repo, namespace, [userBefore]);
      await repo.audit.append({ action: 'user.deactivated', actor: context.actor, namespace, organization: userBefore.organization || null, kind: 'User', name: userBefore.id, subject: userBefore.id, data: { via: 'declaration', changed: true, revoked } }, now);
    }
    return { outcome, object: this.present(stored) };
  }

  async get(kind: KindName, namespace: string, name: string): Promise<AnyObject> {
    const stored = await this.store.objects.get(kind, namespace, name);
    if (!stored) throw notFound(`${kind} ${namespace}/${name} does not exist`);
    return this.present(stored);
  }

  async list(kind: KindName, namespace?: string): Promise<AnyObject[]> {
    const rows = await this.store.objects.list(namespace ? { kind, namespace } : { kind });
    return rows.map((r) => this.present(r));
  }

  /**
   * Deletes an object. Refused while other objects reference it, unless `cascade`,
   * which deletes the dependants first (deepest first), each with its own audit record.
   */
  async delete(kind: KindName, namespace: string, name: string, context: ChangeContext, options: { cascade?: boolean } = {}): Promise<{ deleted: string[] }> {
    const result = await this.store.transaction(async (repo) => {
      // As a write does: a replica keeping the namespace's email-domain index must see a delete as a version of its own.
      await repo.objects.lockNamespace(namespace);
      const root = await repo.objects.get(kind, namespace, name);
      if (!root) throw notFound(`${kind} ${namespace}/${name} does not exist`);
      const closure = await dependantClosure(repo, kind, namespace, name);
      if (closure.length > 0 && !options.cascade) {
        const list = closure.map((d) => `${d.kind} ${d.name} (${d.field})`);
        throw new Conflict(`${kind} ${namespace}/${name} is still referenced by ${list.join(', ')}; delete those first or repeat with ?cascade=true`, {
          title: 'Has dependants',
          object: `${kind} ${namespace}/${name}`,
          extra: { dependants: closure },
        });
      }
      const order = [...closure].sort((a, b) => b.depth - a.depth || applyRank(b.kind) - applyRank(a.kind));
      const deleted: string[] = [];
      const removed: ConfigChange[] = [];
      const now = this.clock.now();
      for (const target of [...order, { kind, name, depth: 0, field: '' }]) {
        const stored = await repo.objects.get(target.kind, namespace, target.name);
        if (!stored) continue; // reached twice through two references
        await repo.objects.delete(target.kind, namespace, target.name);
        if (target.kind === 'Client') await ClientSecrets.forget(repo, namespace, target.name);
        // What the object granted ends with it, in this transaction (see governance/token-ends.ts).
        let ended: Record<string, number> = {};
        // With what risk scoring learned for it (both owner forms) and a suspension it was under: a client declared again under this name starts unknown.
        if (target.kind === 'Client') {
          const revoked = await endClientTokens(repo, namespace, stored.object as ClientObject);
          ended = { revoked, riskForgotten: await repo.risk.forgetClient(namespace, target.name), suspensionLifted: (await repo.risk.lift(namespace, target.name)) ? 1 : 0 };
        }
        if (target.kind === 'IdPConnection') {
          ended = await endConnectionTokens(repo, namespace, target.name);
          // A connection declared again under this name must not inherit the old SCIM token.
          await repo.scim.deleteToken(namespace, target.name);
        }
        // With its certification and MFA tightening: an organization declared again under this name is a new relationship.
        if (target.kind === 'Organization') ended = { revoked: await endOrganizationTokens(repo, namespace, [target.name]), governanceForgotten: await repo.governance.forgetOrganization(namespace, target.name) };
        if (target.kind === 'User') {
          const retired = await retireDeclaredUser(repo, namespace, target.name, now);
          if (retired) ended = { revoked: await endUserTokens(repo, namespace, [retired]) };
        }
        await repo.audit.append(
          {
            action: `${target.kind}.deleted`,
            actor: context.actor,
            namespace,
            organization: organizationOf(stored.object),
            kind: target.kind,
            name: target.name,
            data: {
              generation: stored.generation,
              ...ended,
              ...(target.depth > 0 ? { cascadeFrom: `${kind}/${name}` } : {}),
              ...(context.provenance ? { provenance: redact(context.provenance) } : {}),
            },
          },
          now,
        );
        deleted.push(`${target.kind}/${target.name}`);
        removed.push({ kind: target.kind, name: target.name });
      }
      await repo.objects.bumpConfigVersion(namespace, removed);
      return { deleted };
    });
    return this.changed(namespace, result);
  }

  /**
   * Replaces the status an outside reconciler reports (conditions, observedGeneration). Not
   * audited, except a `Drifted` condition turning True: the object was changed on the server and
   * the controller left it so (drift mode `report`), which an auditor must find in the log.
   */
  async setStatus(kind: KindName, namespace: string, name: string, input: unknown, context?: ChangeContext): Promise<AnyObject> {
    const status = this.parseStatus(kind, namespace, name, input);
    return this.store.transaction((repo) => this.setStatusIn(repo, kind, namespace, name, status, context));
  }

  /**
   * Replaces the statuses of several objects of one namespace in one transaction, each as
   * `setStatus` does. All or nothing: an invalid status or a missing object rolls the batch
   * back, and the error names its item.
   */
  async setStatuses(namespace: string, items: readonly { kind: KindName; name: string; status: unknown }[], context?: ChangeContext): Promise<AnyObject[]> {
    const parsed = items.map((item, i) => {
      try {
        return { ...item, status: this.parseStatus(item.kind, namespace, item.name, item.status) };
      } catch (error) {
        throw itemProblem(i, error);
      }
    });
    return this.store.transaction(async (repo) => {
      const out: AnyObject[] = [];
      for (const [i, item] of parsed.entries()) {
        try {
          out.push(await this.setStatusIn(repo, item.kind, namespace, item.name, item.status, context));
        } catch (error) {
          throw itemProblem(i, error);
        }
      }
      return out;
    });
  }

  private parseStatus(kind: KindName, namespace: string, name: string, input: unknown): Record<string, unknown> {
    const def = kindByName(kind)!;
    const result = def.status.safeParse(input);
    const label = `${kind} ${namespace}/${name}`;
    if (!result.success) {
      const errors = zodErrors(result.error).map((e) => ({ ...e, path: e.path ? `status.${e.path}` : 'status' }));
      throw new InvalidObject(`${label}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors, object: label });
    }
    return result.data as Record<string, unknown>;
  }

  private async setStatusIn(repo: Repositories, kind: KindName, namespace: string, name: string, status: Record<string, unknown>, context?: ChangeContext): Promise<AnyObject> {
    const label = `${kind} ${namespace}/${name}`;
    const stored = await repo.objects.get(kind, namespace, name);
    if (!stored) throw notFound(`${label} does not exist`);
    await repo.objects.setStatus(kind, namespace, name, status);
    const drifted = (value: unknown) => ((value as { conditions?: Condition[] } | null)?.conditions ?? []).find((c) => c.type === 'Drifted' && c.status === 'True');
    const now = drifted(status);
    if (now && !drifted(stored.status) && context) {
      await repo.audit.append(
        {
          action: `${kind}.drift-reported`,
          actor: context.actor,
          namespace,
          organization: organizationOf(stored.object),
          kind,
          name,
          data: { generation: stored.generation, message: now.message, ...(context.provenance ? { provenance: redact(context.provenance) } : {}) },
        },
        this.clock.now(),
      );
    }
    return this.present({ ...stored, status });
  }

  /** The object as callers see it: the declaration plus status, with outputs the server computes. */
  present(stored: StoredObject): AnyObject {
    const { object } = stored;
    const status: Record<string, unknown> = { ...(stored.status ?? {}) };
    const namespace = object.metadata.namespace!;
    if (object.kind === 'Organization') {
      status.issuer = `${this.publicUrl}${issuerPath(namespace, object.metadata.name)}`;
      // Each vanity domain is an issuer of its own (served on a non-default port, the port joins it).
      const scheme = new URL(this.publicUrl).protocol;
      if (object.spec.domains?.length) status.vanityIssuers = object.spec.domains.map((d) => `${scheme}//${d}`);
    }
    if (object.kind === 'Workspace') status.issuer = `${this.publicUrl}${issuerPath(namespace)}`;
    if (object.kind === 'Client') {
      status.clientId = clientIdFor(namespace, object.metadata.name);
      status.issuer = `${this.publicUrl}${issuerPath(namespace, object.spec.organizationRef?.name)}`;
    }
    if (object.kind === 'IdPConnection' && object.spec.type !== 'directory') {
      const endpoints = connectionEndpoints(this.publicUrl, namespace, object);
      if (object.spec.type === 'oidc') status.redirectUri = endpoints.redirectUri;
      if (object.spec.type === 'saml') status.samlMetadataUrl = endpoints.metadataUrl;
    }
    const out = { ...object, apiVersion: GROUP_VERSION } as AnyObject;
    if (Object.keys(status).length > 0) (out as { status?: unknown }).status = status;
    return out;
  }
}

/** A refusal of one object of a batch, saying which item it was. */
function itemProblem(index: number, error: unknown): unknown {
  const problem = error instanceof ValidationError ? Problem.fromValidation(error) : error;
  if (!(problem instanceof Problem)) return error;
  return new Problem(problem.status, problem.title, `items[${index}]: ${problem.message}`, { errors: problem.errors, ...(problem.object ? { object: problem.object } : {}), extra: { ...problem.extra, item: index } });
}

function pickMeta(object: AnyObject) {
  return { labels: object.metadata.labels, annotations: object.metadata.annotations };
}

export const KIND_NAMES = KINDS.map((k) => k.kind);
