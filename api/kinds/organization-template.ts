import { z } from 'zod';
import { defineKind } from '../kind.ts';
import { organizationSettingsShape } from './organization.ts';
import { claimListShape } from './claim-mapping.ts';
import { clientDefaultsShape } from './client.ts';

export const OrganizationTemplateSpec = z.strictObject({
  displayName: z.string().min(1).max(200).optional(),
  ...organizationSettingsShape,
  /** Claims every organization built from this template carries. */
  claims: claimListShape.claims.optional(),
  clientDefaults: z.strictObject(clientDefaultsShape).optional(),
});
export type OrganizationTemplateSpec = z.infer<typeof OrganizationTemplateSpec>;

export const OrganizationTemplate = defineKind({
  kind: 'OrganizationTemplate',
  plural: 'organizationtemplates',
  shortNames: ['orgtemplate'],
  description: 'Settings and claims that organizations referencing the template inherit.',
  spec: OrganizationTemplateSpec,
});
