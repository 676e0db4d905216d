import * as gatehouse from 'gatehouse/pulumi';

/**
 * The BlixitPartners workspace of examples/blixit-partners/, declared as Pulumi resources.
 * References go through the referenced resource's `name` output, so Pulumi creates what is
 * referenced first and deletes it last.
 */
export function blixitPartners(namespace = 'blixit-partners') {
  const workspace = new gatehouse.Workspace('blixit-partners', {
    namespace,
    spec: {
      displayName: 'Blixit Partners',
      signingAlgorithm: 'ES256',
      tokens: { accessToken: '15m', idToken: '15m', refreshToken: '8h' },
      guardrails: { maxAccessToken: '30m', maxIdToken: '1h', maxRefreshToken: '30d', requireMfaForAdmins: true },
      lifecycle: { contractWarning: '30d', reviewPeriod: '90d', suspendWhenCertificationOverdue: false, inactiveUserAfter: '90d' },
    },
  });

  const standardPartner = new gatehouse.OrganizationTemplate(
    'standard-partner',
    {
      namespace,
      spec: {
        displayName: 'Standard partner',
        tokens: { accessToken: '15m', refreshToken: '8h' },
        claims: [
          { name: 'partner_type', from: 'contract.partnerType' },
          { name: 'contract_id', from: 'contract.id', tokens: ['access'] },
        ],
        clientDefaults: { scopes: ['openid', 'profile', 'email'] },
      },
    },
    { dependsOn: [workspace] },
  );

  const partnerPortal = new gatehouse.Client(
    'partner-portal',
    {
      namespace,
      spec: {
        displayName: 'Blixit partner portal',
        type: 'web',
        redirectUris: ['http://127.0.0.1:3000/callback'],
        postLogoutRedirectUris: ['http://127.0.0.1:3000/'],
        scopes: ['openid', 'profile', 'email', 'offline_access'],
      },
    },
    { dependsOn: [workspace] },
  );

  // Cascade Consulting: consultants without an IdP of their own; their users live in Gatehouse's directory.
  const cascade = new gatehouse.Organization('cascade-consulting', {
    namespace,
    labels: { 'blixit.example/region': 'emea' },
    spec: {
      displayName: 'Cascade Consulting',
      templateRef: { name: standardPartner.name },
      emailDomains: ['cascade-consulting.example'],
      contract: { id: 'BLX-2026-014', partnerType: 'consultant', owner: 'maria.jensen@blixit.example', startsAt: '2026-01-01T00:00:00Z', endsAt: '2027-06-30T23:59:59Z' },
      tokens: { accessToken: '30m' },
      branding: { primaryColor: '#1f6feb', accentColor: '#f0883e' },
      mfa: { required: true },
    },
  });
  new gatehouse.IdPConnection('cascade-directory', {
    namespace,
    spec: { organizationRef: { name: cascade.name }, type: 'directory', displayName: 'Cascade Consulting accounts', emailDomains: ['cascade-consulting.example'] },
  });
  const timesheets = new gatehouse.Client('cascade-timesheets', {
    namespace,
    spec: {
      organizationRef: { name: cascade.name },
      displayName: 'Timesheets',
      type: 'web',
      redirectUris: ['http://127.0.0.1:3001/callback'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'timesheets:read', 'timesheets:write', 'timesheets:approve'],
      audiences: ['https://timesheets.blixit.example'],
      mfa: { requiredScopes: ['timesheets:write'] },
    },
  });
  new gatehouse.ClaimMapping('cascade-claims', {
    namespace,
    spec: {
      organizationRef: { name: cascade.name },
      claims: [
        { name: 'partner_type', from: 'contract.partnerType' },
        { name: 'contract_id', from: 'contract.id' },
        { name: 'cost_center', value: 'CC-4410', tokens: ['access'] },
      ],
    },
  });
  new gatehouse.AccessPolicy('cascade-timesheets', {
    namespace,
    spec: {
      organizationRef: { name: cascade.name },
      clientRef: { name: timesheets.name },
      scopes: [
        { scope: 'timesheets:read', api: [{ path: '/api/timesheets', methods: ['GET'] }] },
        { scope: 'timesheets:write', api: [{ path: '/api/timesheets', methods: ['POST', 'PUT'] }], requireMfa: true },
        // Given person by person: Cascade's own administrators decide (admin API …/accessrequests).
        { scope: 'timesheets:approve', api: [{ path: '/api/timesheets/approvals', methods: ['POST'] }], requireApproval: true },
      ],
      approvers: { roles: ['organization-admin'] },
    },
  });
  new gatehouse.User('ana-cascade', {
    namespace,
    spec: { organizationRef: { name: cascade.name }, email: 'ana@cascade-consulting.example', displayName: 'Ana Ruiz', roles: ['organization-admin'] },
  });

  // Forge Supplies: a supplier signing in with its own OpenID Connect IdP (the demo IdP on port 7001).
  const forge = new gatehouse.Organization('forge-supplies', {
    namespace,
    spec: {
      displayName: 'Forge Supplies',
      templateRef: { name: standardPartner.name },
      emailDomains: ['forge-supplies.example'],
      contract: { id: 'BLX-2025-087', partnerType: 'supplier', owner: 'tom.berg@blixit.example', startsAt: '2025-09-01T00:00:00Z', endsAt: '2027-12-31T23:59:59Z' },
      branding: { primaryColor: '#b42318' },
    },
  });
  new gatehouse.IdPConnection('forge-oidc', {
    namespace,
    spec: {
      organizationRef: { name: forge.name },
      type: 'oidc',
      displayName: 'Forge Supplies SSO',
      emailDomains: ['forge-supplies.example'],
      oidc: { issuer: 'http://127.0.0.1:7001', clientId: 'gatehouse', clientSecretRef: { name: 'forge-oidc', key: 'client-secret' }, scopes: ['openid', 'profile', 'email'] },
      jit: { enabled: true, defaultRoles: [] },
      attributeMapping: { email: 'email', name: 'name', department: 'department' },
    },
  });
  const inventorySync = new gatehouse.Client('forge-inventory-sync', {
    namespace,
    spec: {
      organizationRef: { name: forge.name },
      displayName: 'Inventory sync (machine to machine)',
      type: 'm2m',
      scopes: ['inventory:read', 'inventory:write'],
      audiences: ['https://inventory.blixit.example'],
    },
  });
  new gatehouse.Client('forge-portal', {
    namespace,
    spec: {
      organizationRef: { name: forge.name },
      displayName: 'Supplier portal (single-page app)',
      type: 'spa',
      redirectUris: ['http://127.0.0.1:3002/callback'],
      scopes: ['openid', 'profile', 'email', 'inventory:read'],
      audiences: ['https://inventory.blixit.example'],
    },
  });
  new gatehouse.ClaimMapping('forge-claims', {
    namespace,
    spec: {
      organizationRef: { name: forge.name },
      claims: [
        { name: 'partner_type', from: 'contract.partnerType' },
        { name: 'contract_id', from: 'contract.id' },
        { name: 'department', from: 'upstream.department', tokens: ['id'] },
      ],
    },
  });
  new gatehouse.AccessPolicy('forge-inventory', {
    namespace,
    spec: {
      organizationRef: { name: forge.name },
      scopes: [
        { scope: 'inventory:read', api: [{ path: '/api/inventory', methods: ['GET'] }] },
        { scope: 'inventory:write', api: [{ path: '/api/inventory', methods: ['POST', 'PATCH'] }] },
      ],
    },
  });

  // Pinnacle Logistics: a distributor signing in with SAML 2.0 (the demo IdP on port 7002).
  const pinnacle = new gatehouse.Organization('pinnacle-logistics', {
    namespace,
    spec: {
      displayName: 'Pinnacle Logistics',
      templateRef: { name: standardPartner.name },
      emailDomains: ['pinnacle-logistics.example'],
      contract: { id: 'BLX-2026-031', partnerType: 'distributor', owner: 'maria.jensen@blixit.example', startsAt: '2026-03-01T00:00:00Z', endsAt: '2027-03-31T23:59:59Z' },
      network: { allowedCidrs: ['127.0.0.0/8', '203.0.113.0/24'] },
    },
  });
  new gatehouse.IdPConnection('pinnacle-saml', {
    namespace,
    spec: {
      organizationRef: { name: pinnacle.name },
      type: 'saml',
      displayName: 'Pinnacle Logistics ADFS',
      emailDomains: ['pinnacle-logistics.example'],
      saml: { metadataUrl: 'http://127.0.0.1:7002/metadata' },
      jit: { enabled: true },
      attributeMapping: {
        email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
        name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
      },
    },
  });
  const shipments = new gatehouse.Client('pinnacle-shipments', {
    namespace,
    spec: {
      organizationRef: { name: pinnacle.name },
      displayName: 'Shipment tracking',
      type: 'web',
      redirectUris: ['http://127.0.0.1:3003/callback'],
      scopes: ['openid', 'profile', 'email', 'offline_access', 'shipments:read'],
      audiences: ['https://shipments.blixit.example'],
    },
  });
  new gatehouse.ClaimMapping('pinnacle-claims', {
    namespace,
    spec: {
      organizationRef: { name: pinnacle.name },
      claims: [
        { name: 'partner_type', from: 'contract.partnerType' },
        { name: 'contract_id', from: 'contract.id' },
        { name: 'parent_organizations', from: 'organization.parents', tokens: ['access'] },
      ],
    },
  });

  return { workspace, cascade, forge, pinnacle, partnerPortal, timesheets, inventorySync, shipments };
}
