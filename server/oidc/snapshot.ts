import {
  clientIdFor,
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
import { loadNamespaceView, type NamespaceView } from './namespace-view.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { PageBranding } from './html.ts';
import type { Store } from '../store/index.ts';
import { lifetimesOf, resolveSessions, type Lifetimes, type SessionPolicy } from './lifetimes.ts';

export { loadNamespaceView, type NamespaceView } from './namespace-view.ts';

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
 * Carries an issuer's snapshot to a later view of its namespace, in place (its provider and
 * gates hold the snapshot itself): what the namespace shares (every organization, template,
 * policy, connection, and the settings worked out from them) comes from the new view; what is
 * the issuer's own is kept, so the caller must have found that nothing it was made from
 * changed (server/issuers/carry.ts).
 */
export function advanceSnapshot(snapshot: IssuerSnapshot, view: NamespaceView): void {
  snapshot.workspace = view.workspace;
  snapshot.organizations = view.organizations;
  snapshot.templates = view.templates;
  snapshot.policies = view.policies;
  snapshot.connections = view.connections;
  snapshot.declarations = view.declarations;
  snapshot.settingsOf = view.settingsOf;
  snapshot.scopesOf = view.scopesOf;
  if (snapshot.organization !== undefined) snapshot.chain = organizationChain(view.organizations, snapshot.organization);
  snapshot.version = view.version;
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
