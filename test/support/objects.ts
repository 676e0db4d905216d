/** Small, valid declarations of each kind for tests; override what a test is about. */
export const NS = 'blixit-partners';
const apiVersion = 'gatehouse.dev/v1alpha1';

export const workspace = (spec: object = {}) => ({ apiVersion, kind: 'Workspace', metadata: { name: 'blixit', namespace: NS }, spec: { tokens: { accessToken: '15m' }, ...spec } });

export const organization = (name: string, spec: object = {}) => ({
  apiVersion,
  kind: 'Organization',
  metadata: { name, namespace: NS },
  spec: {
    displayName: name,
    emailDomains: [`${name}.example`],
    contract: { id: `C-${name}`, partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: '2027-06-30T23:59:59Z' },
    ...spec,
  },
});

export const template = (name: string, spec: object = {}) => ({ apiVersion, kind: 'OrganizationTemplate', metadata: { name, namespace: NS }, spec: { tokens: { accessToken: '20m' }, ...spec } });

export const client = (name: string, org: string | undefined, spec: object = {}) => ({
  apiVersion,
  kind: 'Client',
  metadata: { name, namespace: NS },
  spec: { ...(org ? { organizationRef: { name: org } } : {}), type: 'web', redirectUris: ['https://app.example/callback'], ...spec },
});

export const idp = (name: string, org: string, spec: object = {}) => ({
  apiVersion,
  kind: 'IdPConnection',
  metadata: { name, namespace: NS },
  spec: { organizationRef: { name: org }, type: 'oidc', oidc: { issuer: 'https://idp.example', clientId: 'gatehouse', clientSecretRef: { name: 'idp', key: 'secret' } }, ...spec },
});

export const claimMapping = (name: string, org: string, spec: object = {}) => ({
  apiVersion,
  kind: 'ClaimMapping',
  metadata: { name, namespace: NS },
  spec: { organizationRef: { name: org }, claims: [{ name: 'partner_type', from: 'contract.partnerType' }], ...spec },
});

export const accessPolicy = (name: string, org: string, spec: object = {}) => ({
  apiVersion,
  kind: 'AccessPolicy',
  metadata: { name, namespace: NS },
  spec: { organizationRef: { name: org }, scopes: [{ scope: 'orders:read' }], ...spec },
});

export const user = (name: string, org: string | undefined, spec: object = {}) => ({
  apiVersion,
  kind: 'User',
  metadata: { name, namespace: NS },
  spec: { ...(org ? { organizationRef: { name: org } } : {}), email: `${name}@${org ?? 'blixit'}.example`, ...spec },
});

/**
 * Two partners as the observability specs declare them, in the order they can be applied:
 * Forge with a machine client allowed `inventory:read`, Cascade with a directory, a portal
 * client (redirecting to `callback`, asking `portalScopes`) and its user Ana.
 */
export const forgeAndCascade = (callback: string, portalScopes: string[]): [string, { metadata: { name: string; namespace: string } }][] => [
  ['workspaces', workspace()],
  ['organizations', organization('forge')],
  ['organizations', organization('cascade')],
  ['clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: ['https://inventory.example'] })],
  ['accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] })],
  ['idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined })],
  ['clients', client('cascade-portal', 'cascade', { redirectUris: [callback], scopes: portalScopes })],
  ['users', user('ana', 'cascade', { email: 'ana@cascade.example' })],
];
