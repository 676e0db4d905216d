import {
  effectiveScopes,
  effectiveSettings,
  organizationChain,
  type AccessPolicyObject,
  type ClaimMappingObject,
  type ClientObject,
  type Declarations,
  type EffectiveScope,
  type EffectiveSettings,
  type IdPConnectionObject,
  type KindName,
  type MfaPolicy,
  type OrganizationObject,
  type OrganizationTemplateObject,
  type WorkspaceObject,
} from '../../api/index.ts';
import { loadMfaTightenings } from '../governance/effective.ts';
import type { ConfigChange, Store, StoredObject } from '../store/index.ts';
import { withCertification } from './standing.ts';

/**
 * What every issuer of a namespace reads from its declarations, at one configuration version:
 * read from the store once and shared by all of them (an issuer's snapshot adds only its own
 * organization's clients and settings). Read-only: no issuer may change what it holds.
 */
export interface NamespaceView {
  namespace: string;
  /** The namespace's configuration version, read before its objects were. */
  version: number;
  workspace: WorkspaceObject | undefined;
  organizations: Map<string, OrganizationObject>;
  templates: Map<string, OrganizationTemplateObject>;
  policies: AccessPolicyObject[];
  connections: IdPConnectionObject[];
  declarations: Declarations;
  /** Each organization's ClaimMappings ('' for none: the workspace's). */
  mappingsOf(organization: string | undefined): ClaimMappingObject[];
  /** The Clients declared in an organization (undefined: the workspace's shared ones), with their stored uid. */
  clientsOf(organization: string | undefined): { object: ClientObject; uid: string }[];
  /** An organization's effective settings, worked out once per view; undefined for no organization. */
  settingsOf(organization: string | undefined): EffectiveSettings | undefined;
  /** The scopes an organization's effective AccessPolicies grant a client (by name), worked out once per pair. */
  scopesOf(organization: string, client: string): Map<string, EffectiveScope>;
  /** The objects it was made of, by name: the next view shares each one that did not change. */
  parts: ViewParts;
  /** What changed since the view it was advanced from; undefined when it was read whole. */
  change: ViewChange | undefined;
}

/** A view's objects by name, as read (organizations with their recorded certification applied). */
export interface ViewParts {
  workspaces: Map<string, WorkspaceObject>;
  organizations: Map<string, OrganizationObject>;
  templates: Map<string, OrganizationTemplateObject>;
  mappings: Map<string, ClaimMappingObject>;
  policies: Map<string, AccessPolicyObject>;
  connections: Map<string, IdPConnectionObject>;
  clients: Map<string, { object: ClientObject; uid: string }>;
  certified: Map<string, number>;
  mfaTightenings: Map<string, MfaPolicy>;
}

/** What changed from one view to the next, in the terms an issuer built from the earlier one is judged by. */
export interface ViewChange {
  from: number;
  to: number;
  /** The Workspace, the signing keys, or a change not understood: every issuer reads it. */
  everything: boolean;
  /** The namespace's signing keys (the next view opens its key ring again). */
  keys: boolean;
  /** Organizations whose state that those below inherit changed: the object, its certification or MFA tightening, its ClaimMappings, AccessPolicies. */
  organizations: Set<string>;
  /** Organizations whose Clients (or a secret of one) or IdPConnections changed: read at build by their own issuer alone (the others read connections per request). */
  owned: Set<string>;
  templates: Set<string>;
  /** The workspace's shared clients (or a secret of one). */
  sharedClients: boolean;
}

/** Beyond this many changed objects a delta costs about what reading the namespace whole does. */
const MAX_DELTA = 500;

/** Reads a namespace's declarations whole; `version` is the configuration version read before. */
export async function loadNamespaceView(store: Store, namespace: string, version?: number): Promise<NamespaceView> {
  const at = version ?? (await store.objects.configVersions()).get(namespace) ?? 0;
  const parts: ViewParts = {
    workspaces: new Map(),
    organizations: new Map(),
    templates: new Map(),
    mappings: new Map(),
    policies: new Map(),
    connections: new Map(),
    clients: new Map(),
    certified: await certificationsOf(store, namespace),
    mfaTightenings: new Map(),
  };
  for (const stored of await store.objects.list({ namespace })) place(parts, stored.object.kind, stored.object.metadata.name, stored);
  parts.mfaTightenings = await loadMfaTightenings(store, namespace);
  return viewOf(namespace, at, parts, undefined);
}

/**
 * `previous` advanced to `version` by reading only what the store's change log names since
 * it, sharing every other object; the namespace read whole when the log cannot say (the
 * first read, a gap it no longer reaches) or names so much that a whole read costs no more.
 */
export async function advanceNamespaceView(store: Store, previous: NamespaceView, version: number): Promise<NamespaceView> {
  const { namespace } = previous;
  const changes = version > previous.version ? await store.objects.changesBetween(namespace, previous.version, version) : undefined;
  if (!changes || changes.length > MAX_DELTA) return loadNamespaceView(store, namespace, version);
  const before = previous.parts;
  const parts: ViewParts = { ...before };
  const copied = new Set<keyof ViewParts>();
  /** Copies one of the maps before its first change: the previous view keeps its own. */
  const own = <K extends keyof ViewParts>(key: K): ViewParts[K] => {
    if (!copied.has(key)) {
      copied.add(key);
      parts[key] = new Map(before[key] as Map<string, never>) as ViewParts[K];
    }
    return parts[key];
  };
  const reread = new Set<string>();
  for (const c of changes) {
    // A certification is applied to its organization's object as the view holds it.
    if (c.kind === 'Certification') reread.add(`Organization/${c.name}`);
    else if (Object.hasOwn(MAP_OF, c.kind)) reread.add(`${c.kind}/${c.name}`);
  }
  // Both are small tables (a row per organization that has one): read whole when one moved.
  if (changes.some((c) => c.kind === 'Certification')) parts.certified = await certificationsOf(store, namespace);
  if (changes.some((c) => c.kind === 'MfaTightening')) parts.mfaTightenings = await loadMfaTightenings(store, namespace);
  for (const key of reread) {
    const [kind, name] = key.split('/') as [KindName, string];
    const stored = await store.objects.get(kind, namespace, name);
    own(MAP_OF[kind as keyof typeof MAP_OF]);
    // Set in place when it is still there: a map keeps its order, and its lists need no sorting again.
    if (stored) place(parts, kind, name, stored);
    else unplace(parts, kind, name);
  }
  return viewOf(namespace, version, parts, changeOf(previous.version, version, changes, before, parts));
}

async function certificationsOf(store: Store, namespace: string): Promise<Map<string, number>> {
  return new Map([...(await store.governance.certifications(namespace))].map(([name, c]) => [name, c.at]));
}

/** Which of a view's maps holds each kind it reads. */
const MAP_OF = {
  Workspace: 'workspaces',
  Organization: 'organizations',
  OrganizationTemplate: 'templates',
  ClaimMapping: 'mappings',
  AccessPolicy: 'policies',
  IdPConnection: 'connections',
  Client: 'clients',
} as const;

function place(parts: ViewParts, kind: string, name: string, stored: StoredObject): void {
  const o = stored.object;
  if (kind === 'Workspace') parts.workspaces.set(name, o as WorkspaceObject);
  else if (kind === 'Organization') parts.organizations.set(name, withCertification(o as OrganizationObject, parts.certified.get(name)));
  else if (kind === 'OrganizationTemplate') parts.templates.set(name, o as OrganizationTemplateObject);
  else if (kind === 'ClaimMapping') parts.mappings.set(name, o as ClaimMappingObject);
  else if (kind === 'AccessPolicy') parts.policies.set(name, o as AccessPolicyObject);
  else if (kind === 'IdPConnection') parts.connections.set(name, o as IdPConnectionObject);
  else if (kind === 'Client') parts.clients.set(name, { object: o as ClientObject, uid: stored.uid });
}

function unplace(parts: ViewParts, kind: string, name: string): void {
  const key = MAP_OF[kind as keyof typeof MAP_OF];
  if (key) parts[key].delete(name);
}

/** What `changes` come to for issuers, from the objects before and after (a moved client touches both organizations). */
function changeOf(from: number, to: number, changes: ConfigChange[], before: ViewParts, after: ViewParts): ViewChange {
  const change: ViewChange = { from, to, everything: false, keys: false, organizations: new Set(), owned: new Set(), templates: new Set(), sharedClients: false };
  const owner = (org: string | undefined) => (org === undefined ? (change.sharedClients = true) : change.owned.add(org));
  for (const { kind, name } of changes) {
    if (kind === 'Workspace') change.everything = true;
    else if (kind === 'SigningKey') change.everything = change.keys = true;
    else if (kind === 'Organization' || kind === 'Certification' || kind === 'MfaTightening') change.organizations.add(name);
    else if (kind === 'OrganizationTemplate') change.templates.add(name);
    else if (kind === 'Client' || kind === 'ClientSecret') {
      for (const c of [before.clients.get(name), after.clients.get(name)]) if (c) owner(c.object.spec.organizationRef?.name);
    } else if (kind === 'IdPConnection') {
      for (const o of [before.connections.get(name), after.connections.get(name)]) if (o) change.owned.add(o.spec.organizationRef.name);
    } else if (kind === 'ClaimMapping' || kind === 'AccessPolicy') {
      const map = MAP_OF[kind];
      for (const o of [before[map].get(name), after[map].get(name)]) if (o) change.organizations.add(o.spec.organizationRef.name);
    } else if (kind !== 'User') change.everything = true; // Users are read per request, never from a view.
  }
  return change;
}

/** Groups `items` by `key` (undefined and '' together). */
function groupBy<T>(items: Iterable<T>, key: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item) ?? '';
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

const byName = (a: { metadata: { name: string } }, b: { metadata: { name: string } }) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

/** In name order, as the store lists them (a whole read and a delta then agree); sorted only when something new came last. */
function sorted<T extends { metadata: { name: string } }>(values: Iterable<T>): T[] {
  const list = [...values];
  for (let i = 1; i < list.length; i++) if (byName(list[i - 1]!, list[i]!) > 0) return list.sort(byName);
  return list;
}

function viewOf(namespace: string, version: number, parts: ViewParts, change: ViewChange | undefined): NamespaceView {
  const workspace = sorted(parts.workspaces.values())[0];
  const { organizations, templates, mfaTightenings } = parts;
  const allMappings = sorted(parts.mappings.values());
  const policies = sorted(parts.policies.values());
  const mappings = groupBy(allMappings, (m) => m.spec.organizationRef.name);
  const clients = groupBy(parts.clients.values(), (c) => c.object.spec.organizationRef?.name);
  for (const group of clients.values()) if (group.length > 1) group.sort((a, b) => byName(a.object, b.object));
  const declarations: Declarations = { workspace, organizations, templates, claimMappings: allMappings, policies, mfaTightenings };
  const policiesOf = groupBy(policies, (p) => p.spec.organizationRef.name);
  /**
   * The declarations an organization's settings and scopes read: its chain's own ClaimMappings
   * and AccessPolicies only (effectiveSettings and effectiveScopes take no other organization's),
   * so working them out costs the chain, not the namespace.
   */
  const narrowed = (name: string): Declarations => {
    const chain = organizationChain(organizations, name).map((o) => o.metadata.name);
    return { workspace, organizations, templates, claimMappings: chain.flatMap((n) => mappings.get(n) ?? []), policies: chain.flatMap((n) => policiesOf.get(n) ?? []), mfaTightenings };
  };
  const settings = new Map<string, EffectiveSettings | undefined>();
  const grants = new Map<string, Map<string, EffectiveScope>>();
  return {
    namespace,
    version,
    workspace,
    organizations,
    templates,
    policies,
    connections: sorted(parts.connections.values()),
    declarations,
    parts,
    change,
    mappingsOf: (organization) => mappings.get(organization ?? '') ?? [],
    clientsOf: (organization) => clients.get(organization ?? '') ?? [],
    settingsOf(name) {
      if (!name) return undefined;
      if (!settings.has(name)) settings.set(name, effectiveSettings(narrowed(name), name));
      return settings.get(name);
    },
    scopesOf(name, client) {
      // Names are DNS labels: a space cannot join two into one key.
      const key = `${name} ${client}`;
      let found = grants.get(key);
      if (!found) grants.set(key, (found = effectiveScopes(narrowed(name), name, client)));
      return found;
    },
  };
}
