import type { z } from 'zod';
import type { GatehouseObject, KindDefinition, KindName } from '../kind.ts';
import { Workspace } from './workspace.ts';
import { OrganizationTemplate } from './organization-template.ts';
import { Organization } from './organization.ts';
import { IdPConnection } from './idp-connection.ts';
import { Client } from './client.ts';
import { ClaimMapping } from './claim-mapping.ts';
import { AccessPolicy } from './access-policy.ts';
import { User } from './user.ts';

export { Workspace, OrganizationTemplate, Organization, IdPConnection, Client, ClaimMapping, AccessPolicy, User };

/** Every kind, in the order objects are applied (dependencies first); deletion runs in reverse. */
export const KINDS = [Workspace, OrganizationTemplate, Organization, IdPConnection, Client, ClaimMapping, AccessPolicy, User] as const;

export type WorkspaceObject = z.infer<typeof Workspace.schema>;
export type OrganizationTemplateObject = z.infer<typeof OrganizationTemplate.schema>;
export type OrganizationObject = z.infer<typeof Organization.schema>;
export type IdPConnectionObject = z.infer<typeof IdPConnection.schema>;
export type ClientObject = z.infer<typeof Client.schema>;
export type ClaimMappingObject = z.infer<typeof ClaimMapping.schema>;
export type AccessPolicyObject = z.infer<typeof AccessPolicy.schema>;
export type UserObject = z.infer<typeof User.schema>;

export interface ObjectsByKind {
  Workspace: WorkspaceObject;
  OrganizationTemplate: OrganizationTemplateObject;
  Organization: OrganizationObject;
  IdPConnection: IdPConnectionObject;
  Client: ClientObject;
  ClaimMapping: ClaimMappingObject;
  AccessPolicy: AccessPolicyObject;
  User: UserObject;
}

export type AnyObject = ObjectsByKind[KindName];

const byKind = new Map<string, KindDefinition>(KINDS.map((k) => [k.kind, k as unknown as KindDefinition]));
const byPlural = new Map<string, KindDefinition>(KINDS.map((k) => [k.plural, k as unknown as KindDefinition]));

export function kindByName(kind: string): KindDefinition | undefined {
  return byKind.get(kind);
}

export function kindByPlural(plural: string): KindDefinition | undefined {
  return byPlural.get(plural);
}

/** Position of a kind in the apply order. */
export function applyRank(kind: KindName): number {
  return KINDS.findIndex((k) => k.kind === kind);
}

export type { GatehouseObject, KindDefinition, KindName };
