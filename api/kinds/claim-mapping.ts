import { z } from 'zod';
import { LocalRef } from '../common.ts';
import { defineKind, ref } from '../kind.ts';

const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
// Claims the token server owns; a mapping that set them could impersonate another partner or client.
const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'azp', 'client_id', 'scope', 'organization_id', 'act', 'cnf', 'nonce', 'at_hash', 'c_hash', 'sid', 'auth_time', 'acr', 'amr', 'organization_parents']);

/** Where a claim's value comes from: `organization.<field>`, `contract.<field>`, `user.<attribute>` or `upstream.<claim>`. */
const SOURCE = /^(organization\.(id|displayName|parents)|contract\.(id|partnerType|owner|endsAt)|user\.[A-Za-z0-9_]+|upstream\.[A-Za-z0-9_.:-]+)$/;

export const Claim = z
  .strictObject({
    name: z
      .string()
      .regex(CLAIM_NAME, { error: 'expected a claim name (letters, digits, "_", ".", ":" or "-")' })
      .refine((n) => !RESERVED.has(n), { error: 'is reserved by the token server' }),
    value: z.string().max(2048).optional(),
    from: z.string().regex(SOURCE, { error: 'expected organization.<id|displayName|parents>, contract.<id|partnerType|owner|endsAt>, user.<attribute> or upstream.<claim>' }).optional(),
    tokens: z
      .array(z.enum(['access', 'id']))
      .min(1)
      .default(['access', 'id']),
  })
  .refine((c) => (c.value === undefined) !== (c.from === undefined), { error: 'exactly one of value or from must be set' });
export type Claim = z.infer<typeof Claim>;

export const claimListShape = {
  claims: z
    .array(Claim)
    .min(1)
    .refine((list) => new Set(list.map((c) => c.name)).size === list.length, { error: 'claim names must be unique' }),
};

export const ClaimMappingSpec = z.strictObject({
  organizationRef: LocalRef,
  /** Only this client's tokens; absent means every client of the organization. */
  clientRef: LocalRef.optional(),
  ...claimListShape,
});
export type ClaimMappingSpec = z.infer<typeof ClaimMappingSpec>;

export const ClaimMapping = defineKind({
  kind: 'ClaimMapping',
  plural: 'claimmappings',
  shortNames: ['gcm'],
  description: 'Claims added to the access and/or ID tokens of an organization or one of its clients.',
  spec: ClaimMappingSpec,
  printerColumns: [{ name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' }],
  celRules: [{ rule: 'self.claims.all(c, has(c.value) != has(c.from))', message: 'each claim sets exactly one of value or from' }],
  references: (spec) => [...ref('spec.organizationRef', 'Organization', spec.organizationRef), ...ref('spec.clientRef', 'Client', spec.clientRef)],
});
