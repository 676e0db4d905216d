import { describe, expect, it } from '@jest/globals';
import { parseObject, type AccessPolicyObject, type ClientObject, type OrganizationObject } from '../../../api/index.ts';
import { gatedScopes } from '../../../server/oidc/approval.ts';
import { NS, accessPolicy, client, organization } from '../../support/objects.ts';

const parse = <T>(o: object) => parseObject(o, { defaultNamespace: NS }) as T;
const orgs = new Map([organization('root'), organization('mid', { parentRef: { name: 'root' } }), organization('leaf', { parentRef: { name: 'mid' } }), organization('other')].map((o) => parse<OrganizationObject>(o)).map((o) => [o.metadata.name, o]));
const approvers = { roles: ['organization-admin'] };
const policies = [
  parse<AccessPolicyObject>(accessPolicy('root-policy', 'root', { scopes: [{ scope: 'invoices:read', requireApproval: true }, { scope: 'orders:read' }], approvers })),
  parse<AccessPolicyObject>(accessPolicy('leaf-policy', 'leaf', { scopes: [{ scope: 'invoices:read' }, { scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }], approvers })),
  parse<AccessPolicyObject>(accessPolicy('other-policy', 'other', { scopes: [{ scope: 'orders:read', requireApproval: true }], approvers })),
];
const app = parse<ClientObject>(client('leaf-app', 'leaf'));

describe('which scopes need an approval, down the organization tree', () => {
  it('a scope an ancestor gates stays gated below it, and the ancestor’s policy names who decides', () => {
    const gated = gatedScopes(orgs, policies, 'leaf', app);
    expect([...gated.keys()].sort()).toEqual(['invoices:read', 'orders:write']);
    expect(gated.get('invoices:read')!.map((p) => p.metadata.name)).toEqual(['root-policy']);
    expect(gated.get('orders:write')!.map((p) => p.metadata.name)).toEqual(['leaf-policy']);
  });

  it('another organization’s policy never gates (or decides) this one’s scopes', () => {
    expect(gatedScopes(orgs, policies, 'leaf', app).has('orders:read')).toBe(false);
    expect([...gatedScopes(orgs, policies, 'root', app).keys()]).toEqual(['invoices:read']);
  });

  it('gates nothing without a client or an organization', () => {
    expect(gatedScopes(orgs, policies, undefined, app).size).toBe(0);
    expect(gatedScopes(orgs, policies, 'leaf', undefined).size).toBe(0);
  });
});
