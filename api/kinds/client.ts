import { z } from 'zod';
import { LocalRef, httpUrl, uniqueList } from '../common.ts';
import { defineKind, ref } from '../kind.ts';

const SCOPE = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, { error: 'expected an OAuth scope token (RFC 6749 section 3.3)' });

// A native app may redirect to a private-use scheme (RFC 8252 section 7.1); web and SPA clients use http(s) only.
const redirectUri = z
  .string()
  .max(2048)
  .refine((u) => URL.canParse(u) && !new URL(u).hash, { error: 'expected an absolute URI without a fragment' });

export const clientDefaultsShape = {
  scopes: uniqueList(SCOPE).optional(),
  audiences: uniqueList(httpUrl).optional(),
};

export const ClientType = z.enum(['web', 'spa', 'native', 'm2m']);

export const ClientSpec = z
  .strictObject({
    /** The owning organization; absent means a workspace-level (shared) application. */
    organizationRef: LocalRef.optional(),
    displayName: z.string().min(1).max(200).optional(),
    type: ClientType,
    redirectUris: uniqueList(redirectUri).optional(),
    postLogoutRedirectUris: uniqueList(redirectUri).optional(),
    ...clientDefaultsShape,
    tokenExchange: z
      .strictObject({
        enabled: z.boolean(),
        /** Clients of the same namespace whose tokens this client may exchange (act for their subjects). */
        subjectClients: z.array(LocalRef).optional(),
      })
      .optional(),
    mfa: z
      .strictObject({
        requiredScopes: uniqueList(SCOPE).optional(),
        /** Scopes that need a phishing-resistant sign-in (a passkey) where the organization's `mfa.requirePhishingResistant.highValueScopes` is set; they need a second factor in any case. */
        highValueScopes: uniqueList(SCOPE).optional(),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    const uris = spec.redirectUris ?? [];
    if (spec.type === 'm2m' && uris.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'an m2m client has no redirect URIs' });
    }
    if (spec.type !== 'm2m' && uris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: `a ${spec.type} client needs at least one redirect URI` });
    }
    if (spec.type !== 'native') {
      uris.forEach((u, i) => {
        if (URL.canParse(u) && !/^https?:$/.test(new URL(u).protocol)) {
          ctx.addIssue({ code: 'custom', path: ['redirectUris', i], message: `a ${spec.type} client redirects to http(s) URIs only` });
        }
      });
    }
  });
export type ClientSpec = z.infer<typeof ClientSpec>;

export const Client = defineKind({
  kind: 'Client',
  plural: 'clients',
  shortNames: ['gclient'],
  description: 'An application registered in one organization (or the workspace) that receives tokens.',
  spec: ClientSpec,
  statusShape: {
    clientId: z.string().optional(),
    issuer: z.string().optional(),
    /** Where the controller delivered the client secret (a Kubernetes Secret name); never the secret itself. */
    secretName: z.string().optional(),
    /** Set by the server on every read while the risk engine has the client suspended (docs/risk.md). */
    suspension: z.strictObject({ client: z.string(), organization: z.string(), score: z.number(), rules: z.array(z.string()), suspendedAt: z.string(), until: z.string().nullable() }).optional(),
  },
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type' },
    { name: 'Organization', type: 'string', jsonPath: '.spec.organizationRef.name' },
    { name: 'Client-ID', type: 'string', jsonPath: '.status.clientId', priority: 1 },
  ],
  celRules: [
    { rule: "self.type != 'm2m' || !has(self.redirectUris) || size(self.redirectUris) == 0", message: 'an m2m client has no redirect URIs' },
    { rule: "self.type == 'm2m' || (has(self.redirectUris) && size(self.redirectUris) > 0)", message: 'a web, spa or native client needs at least one redirect URI' },
  ],
  references: (spec) => [...ref('spec.organizationRef', 'Organization', spec.organizationRef), ...(spec.tokenExchange?.subjectClients ?? []).flatMap((c, i) => ref(`spec.tokenExchange.subjectClients[${i}]`, 'Client', c))],
});
