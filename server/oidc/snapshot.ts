import {
  clientIdFor,
  effectiveScopes,
  effectiveSettings,
  issuerPath,
  organizationChain,
  workspaceSettings,
  type Declarations,
  type EffectiveScope,
  type EffectiveSettings,
  type AccessPolicyObject,
  type Claim,
  type ClaimMappingObject,
  type ClientObject,
  type IdPConnectionObject,
  type OrganizationObject,
  type OrganizationTemplateObject,
  type WorkspaceObject,
} from '../../api/index.ts';
import { loadMfaTightenings } from '../governance/effective.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { PageBranding } from './html.ts';
import type { Store } from '../store/index.ts';
import { lifetimesOf, resolveSessions, type Lifetimes, type SessionPolicy } from './lifetimes.ts';
import { withCertification } from './standing.ts';

export interface SnapshotClient {
  object: ClientObject;
  clientId: string;
  /**
   * The stored object's uid: new each time a Client is created, kept across updates. The
   * client_id stays the same when a client is deleted and declared again (hydra-maester#117);
   * what it holds in the store is bound to this, so a re-created client revives nothing.
   */
  uid: string;
  /** Present for confidential clients whose secret has been generated. */
  secret: string | undefined;
  /**
   * The API scopes this client may get: declared on the client and allowed by a policy of its
   * organization. At the shared issuer, only the client's declared API scopes, an upper bound:
   * what a token carries is narrowed by the signed-in user's organization (`grantableApiScopes`).
   */
  apiScopes: string[];
  claims: { access: Claim[]; id: Claim[] };
}

/** Everything one issuer needs, read once from the store when the issuer is built. */
export interface IssuerSnapshot {
  namespace: string;
  /** Undefined for the namespace's shared-application issuer. */
  organization: string | undefined;
  path: string;
  workspace: WorkspaceObject | undefined;
  /** The organization and its parents, nearest first. */
  chain: OrganizationObject[];
  /** Every organization of the namespace, for the shared issuer's users. */
  organizations: Map<string, OrganizationObject>;
  template: OrganizationTemplateObject | undefined;
  /** Every OrganizationTemplate of the namespace: at the shared issuer, users' organizations inherit from theirs. */
  templates: Map<string, OrganizationTemplateObject>;
  clients: SnapshotClient[];
  /** Every AccessPolicy of the namespace: at the shared issuer, the signed-in user's organization's apply. */
  policies: AccessPolicyObject[];
  /** Every IdPConnection of the namespace: the broker routes sign-ins by their email domains. */
  connections: IdPConnectionObject[];
  /** What effective settings are computed from (api/effective.ts). */
  declarations: Declarations;
  /** The issuer's organization's effective settings; at the shared issuer, the workspace's. */
  effective: EffectiveSettings;
  /**
   * An organization's effective settings, worked out once per snapshot: at the shared issuer,
   * the signed-in user's organization's. Undefined for no organization (workspace administrators).
   */
  settingsOf(organization: string | undefined): EffectiveSettings | undefined;
  /** The scopes an organization's effective AccessPolicies grant a client (by name), worked out once per pair. */
  scopesOf(organization: string, client: string): Map<string, EffectiveScope>;
  lifetimes: Lifetimes;
  /** The issuer's organization's sign-in sessions (at the shared issuer, the workspace's: each user's organization's apply, provider.ts). */
  sessions: SessionPolicy;
  version: number;
}

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

const byToken = (all: Claim[]) => ({ access: all.filter((c) => c.tokens.includes('access')), id: all.filter((c) => c.tokens.includes('id')) });

/** Claims for a client's tokens: its organization's effective claims, then the client's own mappings, later ones winning by name. */
function claimsFor(client: ClientObject, effective: EffectiveSettings, mappings: ClaimMappingObject[]): { access: Claim[]; id: Claim[] } {
  const byName = new Map<string, Claim>(effective.claims.map((c) => [c.value.name, c.value]));
  for (const m of mappings.filter((m) => m.spec.clientRef?.name === client.metadata.name)) for (const c of m.spec.claims) byName.set(c.name, c);
  return byToken([...byName.values()]);
}

/**
 * The claims of a token of `client` for a subject of `organization`: at an organization's issuer
 * the client's own; at the shared issuer, the subject's organization's effective claims (its
 * mappings, its template's, its parents'). A machine or a workspace administrator: none.
 */
export function subjectClaims(snapshot: IssuerSnapshot, client: SnapshotClient | undefined, organization: string | undefined): { access: Claim[]; id: Claim[] } {
  if (snapshot.organization !== undefined) return client?.claims ?? { access: [], id: [] };
  const settings = snapshot.settingsOf(organization);
  return settings ? byToken(settings.claims.map((c) => c.value)) : { access: [], id: [] };
}

/**
 * The API scopes `client`'s tokens may carry for a subject of `organization`. At an
 * organization's issuer, the client's own (already narrowed by its organization's
 * policies). At the shared-application issuer, the client is the workspace's, so the
 * signed-in user's organization decides with its own AccessPolicies: those naming the
 * client (`clientRef`) and its general ones (the same set the MFA step-up reads). No
 * organization (a machine token, a workspace administrator) or no policy: no API scope.
 */
export function grantableApiScopes(snapshot: IssuerSnapshot, client: SnapshotClient, organization: string | undefined): string[] {
  if (snapshot.organization !== undefined) return client.apiScopes;
  if (!organization) return [];
  return apiScopesFor(snapshot.scopesOf(organization, client.object.metadata.name), client.object);
}

/** The client's declared API scopes that the organization's effective AccessPolicies grant it (its parents' included): no policy, no API access. */
function apiScopesFor(allowed: Map<string, EffectiveScope>, client: ClientObject): string[] {
  return (client.spec.scopes ?? []).filter((s) => !OIDC_SCOPES.has(s) && allowed.has(s));
}

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
}

/** Groups `items` by `key` (undefined and '' together). */
function groupBy<T>(items: T[], key: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item) ?? '';
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Reads a namespace's declarations once (see NamespaceView); `version` is the configuration version read before. */
export async function loadNamespaceView(store: Store, namespace: string, version?: number): Promise<NamespaceView> {
  const at = version ?? (await store.objects.configVersions()).get(namespace) ?? 0;
  const objects = await store.objects.list({ namespace });
  const byKind = groupBy(objects, (o) => o.object.kind);
  const of = <T>(kind: string) => (byKind.get(kind) ?? []).map((o) => o.object as T);
  const workspace = of<WorkspaceObject>('Workspace')[0];
  const certified = await store.governance.certifications(namespace);
  const organizations = new Map(of<OrganizationObject>('Organization').map((o) => [o.metadata.name, withCertification(o, certified.get(o.metadata.name)?.at)]));
  const templates = new Map(of<OrganizationTemplateObject>('OrganizationTemplate').map((t) => [t.metadata.name, t]));
  const allMappings = of<ClaimMappingObject>('ClaimMapping');
  const mappings = groupBy(allMappings, (m) => m.spec.organizationRef.name);
  const policies = of<AccessPolicyObject>('AccessPolicy');
  const clients = groupBy(
    (byKind.get('Client') ?? []).map((o) => ({ object: o.object as ClientObject, uid: o.uid })),
    (c) => c.object.spec.organizationRef?.name,
  );
  const mfaTightenings = await loadMfaTightenings(store, namespace);
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
    version: at,
    workspace,
    organizations,
    templates,
    policies,
    connections: of<IdPConnectionObject>('IdPConnection'),
    declarations,
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

export async function loadSnapshot(store: Store, secrets: ClientSecrets, namespace: string, organization: string | undefined): Promise<IssuerSnapshot | undefined> {
  return snapshotOf(await loadNamespaceView(store, namespace), secrets, organization);
}

/** One issuer's snapshot from its namespace's view: what is the organization's own is worked out here, the rest shared. */
export async function snapshotOf(view: NamespaceView, secrets: ClientSecrets, organization: string | undefined): Promise<IssuerSnapshot | undefined> {
  const { namespace, workspace, organizations: orgs, templates, settingsOf, scopesOf } = view;
  const chain = organization ? organizationChain(orgs, organization) : [];
  if (organization && chain.length === 0) return undefined;
  const org = chain[0];
  const template = org?.spec.templateRef ? templates.get(org.spec.templateRef.name) : undefined;
  // Only an organization's own mappings (none at the shared issuer, whose clients are the workspace's).
  const mappings = organization ? view.mappingsOf(organization) : [];
  const effective = (organization ? settingsOf(organization) : undefined) ?? workspaceSettings(workspace);

  const clients: SnapshotClient[] = [];
  for (const { object: declaredClient, uid } of view.clientsOf(organization)) {
    // A client without scopes or audiences of its own takes its organization template's defaults.
    const defaults = template?.spec.clientDefaults;
    const object: ClientObject = {
      ...declaredClient,
      spec: { ...declaredClient.spec, scopes: declaredClient.spec.scopes ?? defaults?.scopes ?? ['openid'], audiences: declaredClient.spec.audiences ?? defaults?.audiences },
    };
    const confidential = object.spec.type === 'web' || object.spec.type === 'm2m';
    clients.push({
      object,
      clientId: clientIdFor(namespace, object.metadata.name),
      uid,
      secret: confidential ? await secrets.current(namespace, object.metadata.name) : undefined,
      // At the shared issuer the user's organization narrows these per token (grantableApiScopes).
      apiScopes: organization ? apiScopesFor(scopesOf(organization, object.metadata.name), object) : (object.spec.scopes ?? []).filter((s) => !OIDC_SCOPES.has(s)),
      claims: claimsFor(object, effective, mappings),
    });
  }
  return {
    namespace,
    organization,
    path: issuerPath(namespace, organization),
    workspace,
    chain,
    organizations: orgs,
    template,
    templates,
    clients,
    policies: view.policies,
    connections: view.connections,
    declarations: view.declarations,
    effective,
    settingsOf,
    scopesOf,
    lifetimes: lifetimesOf(effective),
    sessions: resolveSessions(chain, templates, workspace),
    version: view.version,
  };
}

/**
 * The look of the server's pages about `organization` (the routed or signed-in one at the
 * shared issuer), else the issuer's own: its effective branding, every field inherited from
 * its template and parents (api/effective.ts).
 */
export function brandingOf(snapshot: IssuerSnapshot, organization?: string): PageBranding {
  const org = organization ? snapshot.organizations.get(organization) : snapshot.chain[0];
  const settings = organization ? snapshot.settingsOf(organization) : snapshot.effective;
  const b = settings?.branding;
  return { title: org?.spec.displayName ?? snapshot.workspace?.spec.displayName ?? snapshot.namespace, primaryColor: b?.primaryColor?.value, accentColor: b?.accentColor?.value, logo: b?.logo?.value };
}

/**
 * Password sign-in is for organizations that chose Gatehouse's directory: a user of a
 * partner with its own IdP must not get around it with a local password.
 */
export function usesDirectory(snapshot: IssuerSnapshot, organization: string): boolean {
  if (organization === '') return true; // workspace administrators have no organization
  return snapshot.connections.some((c) => c.spec.type === 'directory' && c.spec.organizationRef.name === organization);
}
