import type * as pulumi from '@pulumi/pulumi';
import type { z } from 'zod';
import type { AccessPolicy, ClaimMapping, Client, IdPConnection, Organization, OrganizationTemplate, User, Workspace } from '../api/index.ts';

/** A value any part of which may be an Output, as Pulumi programs pass them. */
export type DeepInput<T> = T extends string | number | boolean | null | undefined ? pulumi.Input<T> : T extends readonly (infer U)[] ? pulumi.Input<DeepInput<U>[]> : pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>;

/** Metadata and spec of one object; the spec type is the api/ schema's input type (defaults optional). */
export interface ObjectArgs<Spec> {
  /** The Gatehouse namespace (a Kubernetes namespace in the CRD world): one workspace. */
  namespace: pulumi.Input<string>;
  /** The object's name; defaults to the Pulumi resource name, without a random suffix (client ids and issuer URLs derive from it). */
  name?: pulumi.Input<string>;
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  annotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  spec: DeepInput<Spec>;
}

export type SpecInput<Def extends { spec: z.ZodType }> = z.input<Def['spec']>;
/** The spec as the server holds it (defaults applied), as resource outputs carry it. */
export type SpecOutput<Def extends { spec: z.ZodType }> = z.output<Def['spec']>;

export type WorkspaceArgs = ObjectArgs<SpecInput<typeof Workspace>>;
export type OrganizationTemplateArgs = ObjectArgs<SpecInput<typeof OrganizationTemplate>>;
export type OrganizationArgs = ObjectArgs<SpecInput<typeof Organization>>;
export type IdPConnectionArgs = ObjectArgs<SpecInput<typeof IdPConnection>>;
export interface ClientArgs extends ObjectArgs<SpecInput<typeof Client>> {
  /** Any value; changing it has the server generate a new client secret (web and m2m clients). */
  rotateSecretTrigger?: pulumi.Input<string>;
}
export type ClaimMappingArgs = ObjectArgs<SpecInput<typeof ClaimMapping>>;
export type AccessPolicyArgs = ObjectArgs<SpecInput<typeof AccessPolicy>>;
export type UserArgs = ObjectArgs<SpecInput<typeof User>>;
