import { organizationChain } from '../../api/index.ts';
import type { NamespaceView, ViewChange } from '../oidc/namespace-view.ts';
import { advanceSnapshot, type IssuerSnapshot } from '../oidc/snapshot.ts';

/**
 * Whether an issuer built from `snapshot` read anything `change` names, and must be built
 * again rather than carried to `view` (advanceSnapshot). What an issuer makes its own at
 * build time, and so must not be carried past a change of:
 *
 * - an organization's issuer (canonical or vanity): its organization and every parent (their
 *   certification, MFA tightening, ClaimMappings and AccessPolicies), the templates they name,
 *   its own clients and their secrets and its own IdPConnections, the Workspace and the
 *   signing keys (an organization below it is not read: its issuer serves its own users only);
 * - the namespace's shared issuer: the Workspace, the keys, its (the workspace's) clients, and
 *   every organization, its state and template, since each signed-in user's organization applies there.
 *
 * What an issuer reads per request across the namespace (email domains and connections for
 * routing, other organizations' standing) comes from the carried snapshot's new maps.
 * Users are read from the store per request. Anything else moves `everything`.
 */
export function readsChange(snapshot: IssuerSnapshot, change: ViewChange, view: NamespaceView): boolean {
  if (change.everything) return true;
  const { organization } = snapshot;
  if (organization === undefined) return change.organizations.size > 0 || change.templates.size > 0 || change.sharedClients;
  const now = organizationChain(view.organizations, organization);
  // Gone (or its chain broken): the build decides what is served now.
  if (now.length === 0 || change.owned.has(organization)) return true;
  for (const org of [...snapshot.chain, ...now]) {
    if (change.organizations.has(org.metadata.name)) return true;
    const template = org.spec.templateRef?.name;
    if (template !== undefined && change.templates.has(template)) return true;
  }
  return false;
}

/**
 * Carries `snapshot` to `view` when nothing it was made from changed since the view it was
 * built from (its kept discovery document, key ring and provider stay with it), and says
 * whether it could; `between` answers what changed, or undefined when that is no longer known.
 */
export function carryTo(snapshot: IssuerSnapshot, view: NamespaceView, between: (from: number, to: number) => ViewChange | undefined): boolean {
  if (snapshot.version >= view.version) return true;
  const change = between(snapshot.version, view.version);
  if (!change || readsChange(snapshot, change, view)) return false;
  advanceSnapshot(snapshot, view);
  return true;
}

/** The changes of consecutive views as one, from the first's `from` to the last's `to`. */
export function mergeChanges(changes: readonly ViewChange[]): ViewChange {
  const merged: ViewChange = { from: changes[0]!.from, to: changes.at(-1)!.to, everything: false, keys: false, organizations: new Set(), owned: new Set(), templates: new Set(), sharedClients: false };
  for (const c of changes) {
    merged.everything ||= c.everything;
    merged.keys ||= c.keys;
    merged.sharedClients ||= c.sharedClients;
    for (const o of c.organizations) merged.organizations.add(o);
    for (const o of c.owned) merged.owned.add(o);
    for (const t of c.templates) merged.templates.add(t);
  }
  return merged;
}
