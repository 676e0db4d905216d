import type { IdPConnectionObject, OrganizationObject } from '../../api/index.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';

/** Who is calling: one IdPConnection of the issuer's organization, by its token. */
export interface Caller {
  namespace: string;
  organization: OrganizationObject;
  connection: IdPConnectionObject;
  snapshot: IssuerSnapshot;
  /** `{issuer}/scim/v2`, for `meta.location`. */
  base: string;
  /** The audit actor: the connection. */
  actor: string;
}

/** `scim:<connection>`: the actor of what a connection's provisioning does, and the mark on users it deactivated. */
export const scimActor = (connection: string) => `scim:${connection}`;
