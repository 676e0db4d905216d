import { describe, expect, it } from '@jest/globals';
import { parseObject, workspaceSettings, type IdPConnectionObject, type OrganizationObject, type OrganizationTemplateObject } from '../../../api/index.ts';
import { routeEmail } from '../../../server/broker/routing.ts';
import type { IssuerSnapshot } from '../../../server/oidc/snapshot.ts';
import { NS, idp, organization, template } from '../../support/objects.ts';

/**
 * Home-realm discovery at the shared issuer routes across every partner of the namespace: an
 * address goes only to the one organization owning its domain, never to another partner's
 * IdP — even in a store written before ownership was checked on write, where a connection may
 * list another partner's domain or two organizations may declare the same one.
 */
const org = (name: string, spec: object = {}) => parseObject(organization(name, spec), { defaultNamespace: NS }) as OrganizationObject;
const conn = (name: string, owner: string, spec: object = {}) => parseObject(idp(name, owner, spec), { defaultNamespace: NS }) as IdPConnectionObject;
const tpl = (name: string, spec: object) => parseObject(template(name, spec), { defaultNamespace: NS }) as OrganizationTemplateObject;

function snapshot(orgs: OrganizationObject[], connections: IdPConnectionObject[], templates: OrganizationTemplateObject[] = [], organization?: string): IssuerSnapshot {
  return {
    namespace: NS,
    organization,
    path: `/${NS}${organization ? `/${organization}` : ''}`,
    workspace: undefined,
    chain: [],
    organizations: new Map(orgs.map((o) => [o.metadata.name, o])),
    template: undefined,
    templates: new Map(templates.map((t) => [t.metadata.name, t])),
    clients: [],
    policies: [],
    connections,
    declarations: { workspace: undefined, organizations: new Map(orgs.map((o) => [o.metadata.name, o])), templates: new Map(templates.map((t) => [t.metadata.name, t])) },
    effective: workspaceSettings(undefined),
    settingsOf: () => undefined,
    scopesOf: () => new Map(),
    lifetimes: { accessToken: 900, idToken: 900, refreshToken: 3600 },
    sessions: { lifetime: 8 * 3600, idleTimeout: 8 * 3600 },
    version: 1,
  };
}

const where = (s: IssuerSnapshot, email: string) => {
  const r = routeEmail(s, email);
  return r ? `${r.organization.metadata.name}/${r.connection?.metadata.name ?? 'directory'}` : undefined;
};

describe('routing at the shared issuer', () => {
  const acme = org('acme', { emailDomains: ['acme.example'] });
  const evil = org('evil', { emailDomains: ['evil.example'] });

  it("never sends a partner's users to a connection of another partner listing their domain (with a better priority)", () => {
    const s = snapshot([acme, evil], [conn('acme-idp', 'acme', { priority: 100 }), conn('evil-idp', 'evil', { emailDomains: ['acme.example', 'evil.example'], priority: 0 })]);
    expect(where(s, 'ana@acme.example')).toBe('acme/acme-idp');
    expect(where(s, 'eve@evil.example')).toBe('evil/evil-idp');
  });

  it("falls back to the owner's directory, never to the other partner's IdP, when the owner has no connection for it", () => {
    const s = snapshot([acme, evil], [conn('evil-idp', 'evil', { emailDomains: ['acme.example'] })]);
    expect(where(s, 'ana@acme.example')).toBe('acme/directory');
  });

  it('routes a domain two organizations declare (a store older than the check) nowhere', () => {
    const twin = org('twin', { emailDomains: ['acme.example'] });
    expect(where(snapshot([acme, twin], [conn('acme-idp', 'acme'), conn('twin-idp', 'twin')]), 'ana@acme.example')).toBeUndefined();
  });

  it.each([['ana@evilacme.example'], ['ana@eu.acme.example'], ['ana@acme.example.evil.example'], ['ana@acme.example.'], ['ana@'], ['acme.example']])('matches domains exactly: %s reaches no one', (email) => {
    expect(where(snapshot([acme, evil], [conn('acme-idp', 'acme')]), email)).toBeUndefined();
  });

  it('compares case-insensitively and by the A-label of an IDN', () => {
    const idn = org('idn', { emailDomains: ['xn--acm-dma.example'] });
    const s = snapshot([acme, idn], [conn('acme-idp', 'acme'), conn('idn-idp', 'idn')]);
    expect(where(s, 'Ana@ACME.Example')).toBe('acme/acme-idp');
    expect(where(s, 'ana@acmé.example')).toBe('idn/idn-idp');
  });

  it("routes a sub-organization's subdomain to the sub-organization, the parent's domain to the parent", () => {
    const eu = org('acme-eu', { parentRef: { name: 'acme' }, emailDomains: ['eu.acme.example'] });
    const s = snapshot([acme, eu], [conn('acme-idp', 'acme'), conn('eu-idp', 'acme-eu')]);
    expect(where(s, 'a@eu.acme.example')).toBe('acme-eu/eu-idp');
    expect(where(s, 'a@acme.example')).toBe('acme/acme-idp');
  });

  it('routes domains an organization inherits from its template (looked up by name at the shared issuer)', () => {
    const t = tpl('partner', { emailDomains: ['tpl.example'] });
    const inheriting = org('inheriting', { emailDomains: undefined, templateRef: { name: 'partner' } });
    expect(where(snapshot([inheriting], [conn('inheriting-idp', 'inheriting')], [t]), 'a@tpl.example')).toBe('inheriting/inheriting-idp');
  });

  it("an organization's own issuer routes only its own organization's users", () => {
    const s = snapshot([acme, evil], [conn('acme-idp', 'acme'), conn('evil-idp', 'evil')], [], 'evil');
    expect(where(s, 'ana@acme.example')).toBeUndefined();
    expect(where(s, 'eve@evil.example')).toBe('evil/evil-idp');
  });
});
