/** Gatehouse for Pulumi: every api/ kind as a resource, over the admin API. */
export { AccessPolicy, ClaimMapping, Client, CLIENT_SECRET_OUTPUTS, IdPConnection, MODULE, Organization, OrganizationTemplate, User, Workspace, pulumiProvenance, typeToken } from './resources.ts';
export type * from './types.ts';
export { dynamicProvider } from './dynamic.ts';
