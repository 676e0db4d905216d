import { GROUP_VERSION, REDACTED, declarationOf, diff, kindByName, parseObject, type AccessPolicyObject, type AnyObject, type ClaimMappingObject, type FieldError, type KindName, type OrganizationObject, type OrganizationTemplateObject, type UserObject } from '../api/index.ts';
import { AdminApiError, type AdminClient } from '../client/admin-client.ts';
import { keyOf, objectKey, type DesiredObject, type DesiredState, type ObjectKey } from './desired-state.ts';
import { pool, levels, parentCycles } from './ordering.ts';
import { asWritten, mayWrite, orphansOf, MANAGED_BY } from './ownership.ts';
import { TransientError, readServerObjects } from './reconciler.ts';

/*
 * What a reconcile pass would do, computed without changing anything: the server is read with
 * GETs and each create or update is sent as a server-side dry run (`PUT ?dryRun=All`), so the
 * server's own admission (422s) is part of the plan. The JSON form of `Plan` is a published
 * interface (docs/controller.md, "Plan before you merge"): add fields, never rename or remove
 * them without raising PLAN_FORMAT_VERSION.
 */

export const PLAN_FORMAT_VERSION = 1;

export type PlanAction = 'create' | 'update' | 'delete' | 'unchanged' | 'error';

/** One field that changes. Secret fields carry `secret: true` and never their values. */
export interface PlanFieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
  secret?: true;
}

export interface PlannedObject {
  kind: KindName;
  namespace: string;
  name: string;
  action: PlanAction;
  /** create: every declared field; update: the fields that differ; otherwise empty. */
  changes: PlanFieldChange[];
  /** Where it is declared (relative to the directory), when it is. */
  file?: string;
  document?: number;
  /** For `error`: what is wrong, and per field where the server or the schema says so. */
  error?: { message: string; errors: FieldError[] };
}

export type RevocationReason = 'kill-switch' | 'organization-deleted' | 'client-deleted' | 'idp-connection-deleted' | 'contract-ended' | 'contract-shortened' | 'user-deactivated' | 'user-deleted';

export interface TokenRevocation {
  kind: KindName;
  namespace: string;
  name: string;
  organization: string | null;
  reason: RevocationReason;
  message: string;
}

export interface ScopeChange {
  namespace: string;
  organization: string;
  /** Set when the policy narrows to one client. */
  client?: string;
  gained: string[];
  lost: string[];
}

export interface ClaimChange {
  namespace: string;
  organization: string;
  client?: string;
  added: string[];
  removed: string[];
}

/** A scope that, after the change, is granted only once a person approves (newly allowed, or newly gated). */
export interface ApprovalNeeded {
  namespace: string;
  organization: string;
  client?: string;
  scope: string;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  endpoint: string;
  dir: string;
  owner: string;
  /** True when applying would change anything on the server. */
  changed: boolean;
  summary: Record<PlanAction, number>;
  /** Creates and updates in the order they would be applied, then deletions, then the unchanged. */
  objects: PlannedObject[];
  consequences: {
    tokensRevoked: TokenRevocation[];
    scopes: ScopeChange[];
    claims: ClaimChange[];
    approvals: ApprovalNeeded[];
  };
  /** Declarations that name no object (not YAML, no kind or name) and other things a reviewer must know. */
  problems: { label: string; message: string; file?: string; document?: number }[];
}

export interface PlanOptions {
  client: AdminClient;
  /** The identity of the controller that applies the directory (its `--owner`): only what it created is ever deleted. */
  owner: string;
  endpoint: string;
  dir: string;
  now?: () => Date;
}

/** The declaration as the server would store it: parsed again, so defaults the server fills in never show as a change. */
function normalised(object: AnyObject): AnyObject {
  const { name, namespace, labels, annotations } = object.metadata;
  try {
    return parseObject({ apiVersion: GROUP_VERSION, kind: object.kind, metadata: { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) }, spec: object.spec });
  } catch {
    // Stored under an older schema the current one refuses: compare it as it is.
    return object;
  }
}

const declared = (object: AnyObject | undefined) => (object ? { spec: object.spec, metadata: { labels: object.metadata.labels ?? {}, annotations: object.metadata.annotations ?? {} } } : { spec: {}, metadata: { labels: {}, annotations: {} } });

/** The leaves that differ; a secret's values are replaced by the mark that it changed. */
function fieldChanges(before: AnyObject | undefined, after: AnyObject): PlanFieldChange[] {
  return diff(declared(before), declared(after)).map((c) => (c.before === REDACTED || c.after === REDACTED ? { path: c.path, secret: true as const } : c));
}

/** A 422 about a reference to an object this same plan creates is not an error: the controller creates that object first. */
function admissionErrors(error: AdminApiError, created: ReadonlySet<string>, namespace: string): FieldError[] {
  return error.errors.filter((e) => {
    const m = /^(\w+) "([^"]+)" does not exist in namespace /.exec(e.message);
    return !(m && e.path.endsWith('.name') && created.has(keyOf({ kind: m[1] as KindName, namespace, name: m[2]! })));
  });
}

function isFatal(error: unknown): error is AdminApiError {
  return error instanceof AdminApiError && (error.transient || error.status === 401 || error.status === 403);
}

/** Compares the declarations with the server and says what a pass would do, changing nothing. */
export async function computePlan(state: DesiredState, options: PlanOptions): Promise<Plan> {
  const { client, owner } = options;
  const now = (options.now ?? (() => new Date()))();
  const server = await readServerObjects(client);
  const before = new Map([...server].map(([k, o]) => [k, normalised(o)]));
  const planned = new Map<string, PlannedObject>();
  const problems: Plan['problems'] = [];
  const where = (origin: { file?: string; document?: number } | undefined) => ({ ...(origin?.file ? { file: origin.file } : {}), ...(origin?.document ? { document: origin.document } : {}) });
  const failed = (key: ObjectKey, message: string, errors: FieldError[], origin?: { file?: string; document?: number }): PlannedObject => ({ ...key, action: 'error', changes: [], ...where(origin), error: { message, errors } });

  for (const error of state.errors) {
    if (error.target) planned.set(keyOf(error.target), failed(error.target, error.message, [], error.origin));
    else problems.push({ label: error.label, message: error.message, ...where(error.origin) });
  }
  const cycles = parentCycles(state.objects);
  const toWrite: { item: DesiredObject; desired: AnyObject; entry: PlannedObject }[] = [];
  for (const item of state.objects) {
    const key = objectKey(item.object);
    const k = keyOf(key);
    const current = server.get(k);
    if (cycles.has(k)) {
      planned.set(k, failed(key, cycles.get(k)!, [{ path: 'spec.parentRef.name', message: 'makes a cycle of parents' }], item.origin));
      continue;
    }
    if (current && !mayWrite(current, owner)) {
      const holder = current.metadata.annotations?.[MANAGED_BY];
      planned.set(k, failed(key, `${k} is managed by ${holder}, not by ${owner}; if ${holder} is the controller that applies this directory, plan again with --owner '${holder}'`, [], item.origin));
      continue;
    }
    const desired = asWritten(item.object, current, owner);
    const was = before.get(k);
    const action: PlanAction = !was ? 'create' : declarationOf(was) === declarationOf(desired) ? 'unchanged' : 'update';
    const entry: PlannedObject = { ...key, action, changes: action === 'unchanged' ? [] : fieldChanges(was, desired), ...where(item.origin) };
    planned.set(k, entry);
    if (action !== 'unchanged') toWrite.push({ item, desired, entry });
  }

  const creating = new Set(toWrite.filter((w) => w.entry.action === 'create').map((w) => keyOf(w.entry)));
  // Each create and update is admitted by the server itself, in the order a pass would write them.
  for (const level of levels(toWrite, (w) => w.desired)) {
    await pool(level, 8, async ({ item, desired, entry }) => {
      try {
        await client.apply(desired, { ...item.provenance, reason: 'plan', controller: owner }, { dryRun: true });
      } catch (error) {
        if (isFatal(error)) throw new TransientError(`${keyOf(entry)} (dry run): ${error.message}`, { cause: error });
        if (!(error instanceof AdminApiError)) throw error;
        const errors = admissionErrors(error, creating, entry.namespace);
        if (errors.length === 0 && error.errors.length > 0) return;
        const message = error.errors.length > 0 ? `${keyOf(entry)}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` : error.message;
        planned.set(keyOf(entry), { ...entry, action: 'error', changes: entry.changes, error: { message, errors } });
      }
    });
  }

  // The state after the pass: what applies, applied; what errs, as it is now.
  const after = new Map(before);
  for (const { desired, entry } of toWrite) if (planned.get(keyOf(entry))!.action !== 'error') after.set(keyOf(entry), normalised(desired));
  const deletions: PlannedObject[] = [];
  if (state.complete) {
    const declaredKeys = new Set([...state.objects.map((i) => keyOf(objectKey(i.object))), ...state.errors.flatMap((e) => (e.target ? [keyOf(e.target)] : []))]);
    for (const orphan of orphansOf(server, declaredKeys, owner)) after.delete(keyOf(objectKey(orphan)));
    for (const orphan of levels(orphansOf(server, declaredKeys, owner), (o) => o)
      .reverse()
      .flat()) {
      const key = objectKey(orphan);
      const dependants = referencing(after, key);
      deletions.push(dependants.length > 0 ? failed(key, `${keyOf(key)} is no longer declared but cannot be deleted: still referenced by ${dependants.join(', ')}; remove those declarations too`, []) : { ...key, action: 'delete', changes: [] });
      if (dependants.length > 0) after.set(keyOf(key), normalised(orphan));
    }
  } else {
    problems.push({ label: 'deletions', message: 'some declarations could not be read, so no deletion is planned (a pass deletes nothing either until they are fixed)' });
  }

  const ordered = [
    ...levels(toWrite, (w) => w.desired)
      .flat()
      .map((w) => planned.get(keyOf(w.entry))!),
  ];
  const inOrder = new Set(ordered.map((o) => keyOf(o)));
  const rest = [...planned.values()].filter((o) => !inOrder.has(keyOf(o)));
  const objects = [...ordered, ...rest.filter((o) => o.action === 'error'), ...deletions, ...rest.filter((o) => o.action === 'unchanged').sort((a, b) => keyOf(a).localeCompare(keyOf(b)))];
  const summary: Record<PlanAction, number> = { create: 0, update: 0, delete: 0, unchanged: 0, error: problems.filter((p) => p.label !== 'deletions').length };
  for (const o of objects) summary[o.action]++;
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    endpoint: options.endpoint,
    dir: options.dir,
    owner,
    changed: summary.create + summary.update + summary.delete > 0,
    summary,
    objects,
    consequences: consequences(before, after, now),
    problems,
  };
}

/** Objects in `state` that reference `key` (what makes its deletion fail). */
function referencing(state: ReadonlyMap<string, AnyObject>, key: ObjectKey): string[] {
  const out: string[] = [];
  for (const object of state.values()) {
    if ((object.metadata.namespace ?? 'default') !== key.namespace) continue;
    const refs = kindByName(object.kind)!.references(object.spec);
    if (refs.some((r) => r.kind === key.kind && r.name === key.name)) out.push(keyOf(objectKey(object)));
  }
  return out;
}

const byKind = <K extends KindName>(state: ReadonlyMap<string, AnyObject>, kind: K) => [...state.values()].filter((o) => o.kind === kind);
const orgOf = (object: AnyObject): string | null => (object.kind === 'Organization' ? object.metadata.name : ((object.spec as { organizationRef?: { name: string } }).organizationRef?.name ?? null));

/** Per organization (and client), the union of what the objects of one kind say. */
function grouped<T>(objects: AnyObject[], values: (o: AnyObject) => T[]): Map<string, { namespace: string; organization: string; client?: string; values: T[] }> {
  const out = new Map<string, { namespace: string; organization: string; client?: string; values: T[] }>();
  for (const o of objects) {
    const organization = orgOf(o);
    if (!organization) continue;
    const namespace = o.metadata.namespace ?? 'default';
    const client = (o.spec as { clientRef?: { name: string } }).clientRef?.name;
    const k = `${namespace}/${organization}/${client ?? ''}`;
    const group = out.get(k) ?? { namespace, organization, ...(client ? { client } : {}), values: [] };
    group.values.push(...values(o));
    out.set(k, group);
  }
  return out;
}

function setChanges(before: ReturnType<typeof grouped<string>>, after: ReturnType<typeof grouped<string>>) {
  const out: { namespace: string; organization: string; client?: string; plus: string[]; minus: string[] }[] = [];
  for (const k of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = new Set(before.get(k)?.values ?? []);
    const a = new Set(after.get(k)?.values ?? []);
    const plus = [...a].filter((v) => !b.has(v)).sort();
    const minus = [...b].filter((v) => !a.has(v)).sort();
    if (plus.length || minus.length) {
      const { namespace, organization, client } = (after.get(k) ?? before.get(k))!;
      out.push({ namespace, organization, ...(client ? { client } : {}), plus, minus });
    }
  }
  return out;
}

/** What an auditor asks of a change: whose tokens end, and what partners may now get or say in their tokens. */
function consequences(before: ReadonlyMap<string, AnyObject>, after: ReadonlyMap<string, AnyObject>, now: Date): Plan['consequences'] {
  const tokensRevoked: TokenRevocation[] = [];
  const revoke = (o: AnyObject, reason: RevocationReason, message: string) => tokensRevoked.push({ kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name, organization: orgOf(o), reason, message });
  const subOrganizations = (org: AnyObject): string[] => {
    const found: string[] = [];
    const walk = (name: string) => {
      for (const child of byKind(after, 'Organization') as OrganizationObject[]) {
        if (child.metadata.namespace === org.metadata.namespace && child.spec.parentRef?.name === name && !found.includes(child.metadata.name)) {
          found.push(child.metadata.name);
          walk(child.metadata.name);
        }
      }
    };
    walk(org.metadata.name);
    return found;
  };

  for (const [k, was] of before) {
    const is = after.get(k);
    if (!is) {
      if (was.kind === 'Organization') revoke(was, 'organization-deleted', `Organization ${was.metadata.name} is deleted: every token, grant and session of its issuer ends`);
      if (was.kind === 'Client') revoke(was, 'client-deleted', `Client ${was.metadata.name} is deleted: every token issued to it ends`);
      if (was.kind === 'IdPConnection') revoke(was, 'idp-connection-deleted', `IdPConnection ${was.metadata.name} is deleted: the tokens and sessions of every user it signed in end`);
      if (was.kind === 'User') revoke(was, 'user-deleted', `User ${was.metadata.name} is no longer declared: deactivated, and every token of theirs ends`);
      continue;
    }
    if (was.kind === 'Organization') {
      const b = was as OrganizationObject;
      const a = is as OrganizationObject;
      if (a.spec.suspended && !b.spec.suspended) {
        const subs = subOrganizations(a);
        revoke(a, 'kill-switch', `kill switch turned on for Organization ${a.metadata.name}${subs.length ? ` and its sub-organizations ${subs.join(', ')}` : ''}: every token, grant and session ends at once`);
      } else if (a.spec.contract && !a.spec.suspended) {
        const end = Date.parse(a.spec.contract.endsAt);
        const earlier = b.spec.contract ? end < Date.parse(b.spec.contract.endsAt) : true;
        const from = b.spec.contract ? b.spec.contract.endsAt : 'no end';
        if (earlier && end <= now.getTime()) revoke(a, 'contract-ended', `contract of Organization ${a.metadata.name} ends at ${a.spec.contract.endsAt} (was ${from}), already past: every token ends now`);
        else if (earlier) revoke(a, 'contract-shortened', `contract of Organization ${a.metadata.name} now ends at ${a.spec.contract.endsAt} (was ${from}): no token or refresh outlives that date`);
      }
    }
    if (was.kind === 'User' && (was as UserObject).spec.active && !(is as UserObject).spec.active) {
      revoke(is, 'user-deactivated', `User ${is.metadata.name} is deactivated: every token of theirs ends`);
    }
  }

  const scopesOf = (state: ReadonlyMap<string, AnyObject>) => grouped(byKind(state, 'AccessPolicy'), (o) => (o as AccessPolicyObject).spec.scopes.map((s) => s.scope));
  /** Claim names per organization (and client): its mappings', and its template's, which every organization using the template gets. */
  const claimsOf = (state: ReadonlyMap<string, AnyObject>) => {
    const groups = grouped(byKind(state, 'ClaimMapping'), (o) => (o as ClaimMappingObject).spec.claims.map((c) => c.name));
    for (const org of byKind(state, 'Organization') as OrganizationObject[]) {
      const namespace = org.metadata.namespace ?? 'default';
      const template = org.spec.templateRef ? (state.get(keyOf({ kind: 'OrganizationTemplate', namespace, name: org.spec.templateRef.name })) as OrganizationTemplateObject | undefined) : undefined;
      const names = (template?.spec.claims ?? []).map((c) => c.name);
      if (names.length === 0) continue;
      const k = `${namespace}/${org.metadata.name}/`;
      const group = groups.get(k) ?? { namespace, organization: org.metadata.name, values: [] };
      group.values.push(...names);
      groups.set(k, group);
    }
    return groups;
  };
  const gatedOf = (state: ReadonlyMap<string, AnyObject>) => grouped(byKind(state, 'AccessPolicy'), (o) => (o as AccessPolicyObject).spec.scopes.filter((s) => s.requireApproval).map((s) => s.scope));

  return {
    tokensRevoked,
    scopes: setChanges(scopesOf(before), scopesOf(after)).map(({ plus, minus, ...at }) => ({ ...at, gained: plus, lost: minus })),
    claims: setChanges(claimsOf(before), claimsOf(after)).map(({ plus, minus, ...at }) => ({ ...at, added: plus, removed: minus })),
    approvals: setChanges(gatedOf(before), gatedOf(after)).flatMap(({ plus, minus: _, ...at }) => plus.map((scope) => ({ ...at, scope }))),
  };
}
