import { z } from 'zod';
import { LocalRef, SecretKeyRef, domainName, httpUrl, uniqueList } from '../common.ts';
import { defineKind, ref } from '../kind.ts';

const PEM_CERT = /^-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*$/;

export const OidcUpstream = z.strictObject({
  issuer: httpUrl,
  clientId: z.string().min(1).max(256),
  /** The upstream client secret, by reference: never written in the manifest. */
  clientSecretRef: SecretKeyRef.optional(),
  scopes: uniqueList(z.string().min(1).max(128)).optional(),
});

export const SamlUpstream = z
  .strictObject({
    /** IdP metadata XML, as an alternative to entityId + ssoUrl + certificate. */
    metadataXml: z.string().max(1_048_576).optional(),
    /** Where the IdP publishes its metadata; fetched by the server. */
    metadataUrl: httpUrl.optional(),
    entityId: z.string().min(1).max(1024).optional(),
    ssoUrl: httpUrl.optional(),
    certificate: z.string().regex(PEM_CERT, { error: 'expected a PEM certificate (-----BEGIN CERTIFICATE-----)' }).optional(),
    nameIdFormat: z.string().max(256).optional(),
  })
  .superRefine((s, ctx) => {
    const sources = [s.metadataXml, s.metadataUrl].filter((v) => v !== undefined).length;
    const inline = s.entityId !== undefined || s.ssoUrl !== undefined || s.certificate !== undefined;
    if (sources > 1) ctx.addIssue({ code: 'custom', path: ['metadataUrl'], message: 'set either metadataXml or metadataUrl, not both' });
    if (sources === 0) {
      for (const field of ['entityId', 'ssoUrl', 'certificate'] as const) {
        if (s[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'required unless metadataXml or metadataUrl is set' });
      }
    } else if (inline) {
      ctx.addIssue({ code: 'custom', path: ['entityId'], message: 'entityId, ssoUrl and certificate come from the metadata when metadataXml or metadataUrl is set' });
    }
  });

export const IdPConnectionSpec = z
  .strictObject({
    organizationRef: LocalRef,
    type: z.enum(['oidc', 'saml', 'directory']),
    displayName: z.string().min(1).max(200).optional(),
    /** Email domains whose users this connection signs in (home-realm discovery). */
    emailDomains: uniqueList(domainName).optional(),
    /** Among connections claiming the same domain, the lowest number wins. */
    priority: z.int().min(0).max(1000).default(100),
    oidc: OidcUpstream.optional(),
    saml: SamlUpstream.optional(),
    jit: z
      .strictObject({
        enabled: z.boolean().default(true),
        defaultRoles: uniqueList(z.string().min(1).max(64)).optional(),
      })
      .optional(),
    /** Token claim (key) ← upstream claim or SAML attribute (value). */
    attributeMapping: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.string().min(1).max(256)).optional(),
    /**
     * SCIM 2.0 provisioning pushed by this connection's IdP to `{issuer}/scim/v2/`, with a bearer
     * token from `POST …/idpconnections/{name}/scim-token`. Disabled, the endpoint refuses the token.
     */
    scim: z
      .strictObject({
        enabled: z.boolean().default(false),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.type === 'oidc' && !spec.oidc) ctx.addIssue({ code: 'custom', path: ['oidc'], message: 'required when type is oidc' });
    if (spec.type === 'saml' && !spec.saml) ctx.addIssue({ code: 'custom', path: ['saml'], message: 'required when type is saml' });
    if (spec.type !== 'oidc' && spec.oidc) ctx.addIssue({ code: 'custom', path: ['oidc'], message: `not allowed when type is ${spec.type}` });
    if (spec.type !== 'saml' && spec.saml) ctx.addIssue({ code: 'custom', path: ['saml'], message: `not allowed when type is ${spec.type}` });
  });
export type IdPConnectionSpec = z.infer<typeof IdPConnectionSpec>;

export const IdPConnection = defineKind({
  kind: 'IdPConnection',
  plural: 'idpconnections',
  shortNames: ['idp'],
  description: "An organization's own identity provider (OIDC or SAML) or its user directory.",
  spec: IdPConnectionSpec,
  statusShape: {
    /** Per-connection SAML service-provider metadata. */
    samlMetadataUrl: z.string().optional(),
    redirectUri: z.string().optional(),
    /** SCIM provisioning as the server saw it: the token's age, the last request, and how many failed. */
    scim: z
      .object({
        tokenIssuedAt: z.string().optional(),
        lastRequestAt: z.string().optional(),
        lastStatus: z.int().optional(),
        requests: z.int().optional(),
        errors: z.int().optional(),
      })
      .optional(),
  },
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type' },
    { name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' },
  ],
  celRules: [
    { rule: "self.type != 'oidc' || has(self.oidc)", message: 'spec.oidc is required when type is oidc' },
    { rule: "self.type != 'saml' || has(self.saml)", message: 'spec.saml is required when type is saml' },
    { rule: "self.type == 'oidc' || !has(self.oidc)", message: 'spec.oidc is only allowed when type is oidc' },
    { rule: "self.type == 'saml' || !has(self.saml)", message: 'spec.saml is only allowed when type is saml' },
  ],
  references: (spec) => ref('spec.organizationRef', 'Organization', spec.organizationRef),
});
