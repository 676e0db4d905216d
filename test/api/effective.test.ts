import { describe, expect, it } from '@jest/globals';
import {
  ancestry,
  effectiveScopes,
  effectiveSettings,
  effectiveSources,
  intersectCidrs,
  parentCycle,
  parseObject,
  sortForApply,
  withDescendants,
  workspaceSettings,
  type AccessPolicyObject,
  type ClaimMappingObject,
  type Declarations,
  type OrganizationObject,
  type OrganizationTemplateObject,
  type WorkspaceObject,
} from '../../api/index.ts';
import { NS, accessPolicy, claimMapping, organization, template, workspace } from '../support/objects.ts';

const org = (name: string, spec: object = {}) => parseObject(organization(name, spec), { defaultNamespace: NS }) as OrganizationObject;
const child = (name: string, parent: string, spec: object = {}) => org(name, { parentRef: { name: parent }, ...spec });
const ws = (spec: object = {}) => parseObject(workspace(spec), { defaultNamespace: NS }) as WorkspaceObject;
const tpl = (name: string, spec: object = {}) => parseObject(template(name, spec), { defaultNamespace: NS }) as OrganizationTemplateObject;
const mapping = (name: string, owner: string, spec: object) => parseObject(claimMapping(name, owner, spec), { defaultNamespace: NS }) as ClaimMappingObject;
const policy = (name: string, owner: string, scopes: object[], spec: object = {}) => parseObject(accessPolicy(name, owner, { scopes, ...spec }), { defaultNamespace: NS }) as AccessPolicyObject;

function declarations(orgs: OrganizationObject[], extra: Partial<Declarations> & { templateList?: OrganizationTemplateObject[] } = {}): Declarations {
  return {
    workspace: extra.workspace,
    organizations: new Map(orgs.map((o) => [o.metadata.name, o])),
    templates: new Map((extra.templateList ?? []).map((t) => [t.metadata.name, t])),
    claimMappings: extra.claimMappings ?? [],
    policies: extra.policies ?? [],
  };
}
const settings = (d: Declarations, name: string) => effectiveSettings(d, name)!;

describe('the parent chain, walked once', () => {
  it('lists an organization and its parents, nearest first, and stops at a missing parent', () => {
    const orgs = new Map([org('root'), child('mid', 'root'), child('leaf', 'mid'), child('orphan', 'gone')].map((o) => [o.metadata.name, o]));
    expect(ancestry(orgs, 'leaf').chain.map((o) => o.metadata.name)).toEqual(['leaf', 'mid', 'root']);
    expect(ancestry(orgs, 'orphan')).toEqual({ chain: [orgs.get('orphan')], cycle: undefined });
    expect(ancestry(orgs, 'nobody').chain).toEqual([]);
  });

  it('stops at a cycle and spells it out; parentCycle reports only a cycle through the organization itself', () => {
    const orgs = new Map([child('a', 'b'), child('b', 'c'), child('c', 'b')].map((o) => [o.metadata.name, o]));
    expect(ancestry(orgs, 'a')).toMatchObject({ cycle: ['a', 'b', 'c', 'b'] });
    expect(parentCycle(orgs, 'a')).toBeUndefined();
    expect(parentCycle(orgs, 'b')).toEqual(['b', 'c', 'b']);
  });

  it('treats a chain deeper than 64 as a cycle', () => {
    const orgs = new Map([org('o0'), ...Array.from({ length: 70 }, (_, i) => child(`o${i + 1}`, `o${i}`))].map((o) => [o.metadata.name, o]));
    expect(ancestry(orgs, 'o70').chain).toHaveLength(64);
    expect(parentCycle(orgs, 'o70')).toHaveLength(65);
    expect(parentCycle(orgs, 'o10')).toBeUndefined();
  });

  it('finds every descendant, and a cycle does not loop', () => {
    const orgs = new Map([org('root'), child('mid', 'root'), child('leaf', 'mid'), child('x', 'y'), child('y', 'x')].map((o) => [o.metadata.name, o]));
    expect(withDescendants(orgs, 'root')).toEqual(['root', 'mid', 'leaf']);
    expect(withDescendants(orgs, 'x')).toEqual(['x', 'y']);
  });

  it('orders declarations parents first (sortForApply reads the same walk)', () => {
    const items = [child('leaf', 'mid'), child('mid', 'root'), org('root')].map((object) => ({ object }));
    expect(sortForApply(items).map((i) => i.object.metadata.name)).toEqual(['root', 'mid', 'leaf']);
  });
});

describe('token lifetimes', () => {
  it('come from the organization, else its template, else the workspace, with their source', () => {
    const w = ws({ tokens: { accessToken: '10m', idToken: '5m', refreshToken: '1d' } });
    const t = tpl('t', { tokens: { accessToken: '20m' } });
    const d = declarations([org('own', { templateRef: { name: 't' }, tokens: { accessToken: '25m' } }), org('tpl', { templateRef: { name: 't' } }), org('plain')], { workspace: w, templateList: [t] });
    expect(settings(d, 'own').tokens).toEqual({ accessToken: { value: 1500, source: 'organization' }, idToken: { value: 300, source: 'workspace' }, refreshToken: { value: 86400, source: 'workspace' } });
    expect(settings(d, 'tpl').tokens.accessToken).toEqual({ value: 1200, source: 'template:t' });
    expect(settings(d, 'plain').tokens.accessToken).toEqual({ value: 600, source: 'workspace' });
    expect(settings(declarations([org('bare')]), 'bare').tokens.accessToken).toEqual({ value: 900, source: 'default' });
  });

  it('never exceed the workspace guardrails, whatever the organization declares', () => {
    const d = declarations([org('a', { tokens: { accessToken: '1d', refreshToken: '90d' } })], { workspace: ws({ guardrails: { maxAccessToken: '30m', maxRefreshToken: '7d' } }) });
    expect(settings(d, 'a').tokens).toMatchObject({ accessToken: { value: 1800, source: 'workspace' }, refreshToken: { value: 7 * 86400, source: 'workspace' } });
    expect(workspaceSettings(ws({ tokens: { accessToken: '2h' } })).tokens.accessToken).toEqual({ value: 3600, source: 'default' });
  });

  it("are inherited from the parent, and the parent's are a ceiling for its sub-organizations", () => {
    const t = tpl('t', { tokens: { accessToken: '10m', refreshToken: '2h' } });
    const d = declarations([org('root', { tokens: { accessToken: '30m', refreshToken: '1d' } }), child('mid', 'root', { templateRef: { name: 't' } }), child('leaf', 'mid', { tokens: { accessToken: '1h', refreshToken: '1h', idToken: '5m' } })], { templateList: [t] });
    expect(settings(d, 'mid').tokens).toEqual({ accessToken: { value: 600, source: 'template:t' }, idToken: { value: 900, source: 'default' }, refreshToken: { value: 7200, source: 'template:t' } });
    // The leaf asks for an hour: it gets its parent's 10 minutes, and says where that came from.
    expect(settings(d, 'leaf').tokens).toEqual({ accessToken: { value: 600, source: 'parent:mid' }, idToken: { value: 300, source: 'organization' }, refreshToken: { value: 3600, source: 'organization' } });
  });
});

describe('MFA', () => {
  it('required anywhere above stays required: a sub-organization cannot turn it off', () => {
    const t = tpl('strict', { mfa: { required: true } });
    const d = declarations([org('root', { templateRef: { name: 'strict' } }), child('mid', 'root', { mfa: { required: false } }), child('leaf', 'mid'), org('lax', { mfa: { required: false } })], { templateList: [t] });
    expect(settings(d, 'root').mfaRequired).toEqual({ value: true, source: 'template:strict' });
    expect(settings(d, 'mid').mfaRequired).toEqual({ value: true, source: 'parent:root' });
    expect(settings(d, 'leaf').mfaRequired).toEqual({ value: true, source: 'parent:root' });
    expect(settings(d, 'lax').mfaRequired).toEqual({ value: false, source: 'organization' });
  });

  it('a sub-organization may require it below a parent that does not', () => {
    const d = declarations([org('root'), child('leaf', 'root', { mfa: { required: true } })]);
    expect(settings(d, 'root').mfaRequired).toEqual({ value: false, source: 'default' });
    expect(settings(d, 'leaf').mfaRequired).toEqual({ value: true, source: 'organization' });
  });
});

describe('the second-factor policy beyond required', () => {
  it('methods narrow down the tree; a level that would leave none keeps what is above', () => {
    const d = declarations([org('root', { mfa: { methods: ['webauthn'] } }), child('leaf', 'root', { mfa: { methods: ['totp', 'webauthn'] } }), child('odd', 'root', { mfa: { methods: ['totp'] } }), org('free')], { workspace: ws() });
    expect(settings(d, 'free').mfaMethods).toEqual({ value: ['totp', 'webauthn'], source: 'default' });
    expect(settings(d, 'leaf').mfaMethods).toEqual({ value: ['webauthn'], source: 'organization' });
    expect(settings(d, 'odd').mfaMethods).toEqual({ value: ['webauthn'], source: 'parent:root' });
  });

  it('requirePhishingResistant (administrators, highValueScopes) set above stays set; a template may set it', () => {
    const t = tpl('strict', { mfa: { requirePhishingResistant: { highValueScopes: true } } });
    const d = declarations([org('root', { templateRef: { name: 'strict' } }), child('leaf', 'root', { mfa: { requirePhishingResistant: { administrators: true, highValueScopes: false } } })], { templateList: [t], workspace: ws() });
    expect(settings(d, 'root').phishingResistant).toEqual({ administrators: { value: false, source: 'default' }, highValueScopes: { value: true, source: 'template:strict' } });
    expect(settings(d, 'leaf').phishingResistant).toEqual({ administrators: { value: true, source: 'organization' }, highValueScopes: { value: true, source: 'parent:root' } });
  });

  it('upstreamMfa: require-local declared above binds; the default binds nobody; a template may say trust', () => {
    const t = tpl('trusting', { mfa: { upstreamMfa: 'trust' } });
    const strict = declarations([org('a', { templateRef: { name: 'trusting' } })], { templateList: [t], workspace: ws({ mfa: { upstreamMfa: 'require-local' } }) });
    expect(settings(strict, 'a').upstreamMfa).toEqual({ value: 'require-local', source: 'workspace' });
    const open = declarations([org('a', { templateRef: { name: 'trusting' } }), child('b', 'a', { mfa: { upstreamMfa: 'require-local' } })], { templateList: [t], workspace: ws() });
    expect(settings(open, 'a').upstreamMfa).toEqual({ value: 'trust', source: 'template:trusting' });
    expect(settings(open, 'b').upstreamMfa).toEqual({ value: 'require-local', source: 'organization' });
  });
});

describe("a partner administrator's tightening (mfaTightenings)", () => {
  it('applies only what is stricter, and sub-organizations inherit it', () => {
    const d = declarations([org('root', { mfa: { methods: ['totp', 'webauthn'], upstreamMfa: 'trust' } }), child('leaf', 'root')], { workspace: ws() });
    const tightened = { ...d, mfaTightenings: new Map([['root', { required: true, methods: ['webauthn' as const], upstreamMfa: 'require-local' as const }]]) };
    expect(settings(tightened, 'root')).toMatchObject({ mfaRequired: { value: true, source: 'partner' }, mfaMethods: { value: ['webauthn'], source: 'partner' }, upstreamMfa: { value: 'require-local', source: 'partner' } });
    expect(settings(tightened, 'leaf')).toMatchObject({ mfaRequired: { value: true, source: 'partner' }, mfaMethods: { value: ['webauthn'], source: 'partner' }, upstreamMfa: { value: 'require-local', source: 'partner' } });
    const loosening = { ...declarations([org('strict', { mfa: { required: true, methods: ['webauthn'] } })], { workspace: ws() }), mfaTightenings: new Map([['strict', { required: false, methods: ['totp' as const], upstreamMfa: 'trust' as const }]]) };
    expect(settings(loosening, 'strict')).toMatchObject({ mfaRequired: { value: true, source: 'organization' }, mfaMethods: { value: ['webauthn'], source: 'organization' }, upstreamMfa: { value: 'require-local', source: 'default' } });
  });
});

describe('networks', () => {
  it('intersect CIDR lists: nested blocks keep the narrower, disjoint ones nothing', () => {
    expect(intersectCidrs(['10.0.0.0/8', '192.0.2.0/24'], ['10.1.0.0/16', '198.51.100.0/24'])).toEqual(['10.1.0.0/16']);
    expect(intersectCidrs(['10.1.2.0/24'], ['10.0.0.0/8'])).toEqual(['10.1.2.0/24']);
    expect(intersectCidrs(['2001:db8::/32'], ['2001:db8:1::/48', '2001:db9::/32'])).toEqual(['2001:db8:1::/48']);
    expect(intersectCidrs(['10.0.0.0/8'], ['2001:db8::/32'])).toEqual([]);
    // A block that is not one (the schema's IPv6 pattern is loose) admits nothing, so it is dropped.
    expect(intersectCidrs(['::::/8', '10.0.0.0/8'], ['0.0.0.0/0'])).toEqual(['10.0.0.0/8']);
  });

  it("a sub-organization may only narrow its parent's networks", () => {
    const t = tpl('office', { network: { allowedCidrs: ['203.0.113.0/24'] } });
    const d = declarations(
      [
        org('root', { network: { allowedCidrs: ['203.0.113.0/24', '198.51.100.0/24'] } }),
        child('narrow', 'root', { network: { allowedCidrs: ['203.0.113.128/25'] } }),
        child('wide', 'root', { network: { allowedCidrs: ['0.0.0.0/0'] } }),
        child('elsewhere', 'root', { network: { allowedCidrs: ['192.0.2.0/24'] } }),
        child('silent', 'root'),
        child('templated', 'narrow', { templateRef: { name: 'office' } }),
      ],
      { templateList: [t] },
    );
    expect(settings(d, 'narrow').allowedCidrs).toEqual({ value: ['203.0.113.128/25'], source: 'organization' });
    expect(settings(d, 'wide').allowedCidrs).toEqual({ value: ['203.0.113.0/24', '198.51.100.0/24'], source: 'organization', narrowedBy: 'parent:root' });
    expect(settings(d, 'elsewhere').allowedCidrs).toEqual({ value: [], source: 'organization', narrowedBy: 'parent:root' });
    expect(settings(d, 'silent').allowedCidrs).toEqual({ value: ['203.0.113.0/24', '198.51.100.0/24'], source: 'parent:root' });
    expect(settings(d, 'templated').allowedCidrs).toEqual({ value: ['203.0.113.128/25'], source: 'template:office', narrowedBy: 'parent:narrow' });
    expect(settings(declarations([org('open')]), 'open').allowedCidrs).toBeUndefined();
  });
});

describe('rate limits', () => {
  it('take the lowest of the organization and its parents', () => {
    const d = declarations([org('root', { limits: { requestsPerMinute: 100 } }), child('higher', 'root', { limits: { requestsPerMinute: 500 } }), child('lower', 'root', { limits: { requestsPerMinute: 10 } }), child('none', 'root')]);
    expect(settings(d, 'higher').requestsPerMinute).toEqual({ value: 100, source: 'parent:root' });
    expect(settings(d, 'lower').requestsPerMinute).toEqual({ value: 10, source: 'organization' });
    expect(settings(d, 'none').requestsPerMinute).toEqual({ value: 100, source: 'parent:root' });
    expect(settings(declarations([org('free')]), 'free').requestsPerMinute).toBeUndefined();
  });
});

describe('branding', () => {
  it('inherits field by field: the organization, its template, its parent', () => {
    const t = tpl('brand', { branding: { accentColor: '#ff8800' } });
    const d = declarations([org('root', { branding: { primaryColor: '#112233', accentColor: '#445566', logo: 'data:image/png;base64,AAAA' } }), child('leaf', 'root', { templateRef: { name: 'brand' }, branding: { primaryColor: '#abcdef' } })], { templateList: [t] });
    expect(settings(d, 'leaf').branding).toEqual({ primaryColor: { value: '#abcdef', source: 'organization' }, accentColor: { value: '#ff8800', source: 'template:brand' }, logo: { value: 'data:image/png;base64,AAAA', source: 'parent:root' } });
  });
});

describe('email domains', () => {
  it('are the organization’s own, else its template’s, and never its parent’s', () => {
    const t = tpl('t', { emailDomains: ['templated.example'] });
    const d = declarations([org('root'), child('own', 'root'), child('via-template', 'root', { emailDomains: undefined, templateRef: { name: 't' } }), child('none', 'root', { emailDomains: undefined })], { templateList: [t] });
    expect(settings(d, 'own').emailDomains).toEqual({ value: ['own.example'], source: 'organization' });
    expect(settings(d, 'via-template').emailDomains).toEqual({ value: ['templated.example'], source: 'template:t' });
    expect(settings(d, 'none').emailDomains).toBeUndefined();
  });
});

describe('claims', () => {
  it('inherit, and each claim name is overridden by the nearest declaration', () => {
    const t = tpl('t', {
      claims: [
        { name: 'tier', value: 'gold' },
        { name: 'region', value: 'eu' },
      ],
    });
    const d = declarations([org('root'), child('leaf', 'root', { templateRef: { name: 't' } })], {
      templateList: [t],
      claimMappings: [
        mapping('root-claims', 'root', {
          claims: [
            { name: 'tier', value: 'bronze' },
            { name: 'network', value: 'partners' },
          ],
        }),
        mapping('leaf-claims', 'leaf', { claims: [{ name: 'region', value: 'us' }] }),
        mapping('leaf-client', 'leaf', { clientRef: { name: 'app' }, claims: [{ name: 'only_app', value: 'x' }] }),
      ],
    });
    const claims = Object.fromEntries(settings(d, 'leaf').claims.map((c) => [c.value.name, [c.value.value, c.source]]));
    expect(claims).toEqual({ network: ['partners', 'parent:root'], tier: ['gold', 'template:t'], region: ['us', 'organization'] });
  });
});

describe('access policies', () => {
  const d = declarations([org('root'), child('mid', 'root'), child('leaf', 'mid')], {
    policies: [
      policy('root', 'root', [{ scope: 'orders:read', requireMfa: true }, { scope: 'orders:write' }, { scope: 'invoices:read', requireApproval: true }], { approvers: { roles: ['organization-admin'] } }),
      policy('mid', 'mid', [{ scope: 'orders:read' }, { scope: 'orders:write' }, { scope: 'invoices:read' }, { scope: 'admin:all' }]),
      policy('leaf', 'leaf', [{ scope: 'orders:read' }, { scope: 'invoices:read' }, { scope: 'admin:all' }, { scope: 'orders:write' }], { clientRef: { name: 'leaf-app' } }),
    ],
  });

  it('a sub-organization gets at most what its parent is allowed', () => {
    expect([...effectiveScopes(d, 'mid', 'any').keys()].sort()).toEqual(['invoices:read', 'orders:read', 'orders:write']);
    expect([...effectiveScopes(d, 'leaf', 'leaf-app').keys()].sort()).toEqual(['invoices:read', 'orders:read', 'orders:write']);
    // The leaf's policy names one client: another client of the leaf gets nothing.
    expect(effectiveScopes(d, 'leaf', 'other-app').size).toBe(0);
  });

  it('requireMfa and requireApproval set above stay set', () => {
    const leaf = effectiveScopes(d, 'leaf', 'leaf-app');
    expect(leaf.get('orders:read')).toEqual({ scope: 'orders:read', requireMfa: { value: true, source: 'parent:root' }, requireApproval: { value: false, source: 'organization' } });
    expect(leaf.get('invoices:read')?.requireApproval).toEqual({ value: true, source: 'parent:root' });
  });

  it('no policy above, nothing below', () => {
    const bare = declarations([org('root'), child('leaf', 'root')], { policies: [policy('leaf', 'leaf', [{ scope: 'orders:read' }])] });
    expect(effectiveScopes(bare, 'leaf', 'app').size).toBe(0);
    expect([...effectiveScopes(bare, 'root', 'app').keys()]).toEqual([]);
  });
});

describe('the sources summary', () => {
  it('names every set field and where it came from', () => {
    const d = declarations([org('root', { mfa: { required: true }, limits: { requestsPerMinute: 60 } }), child('leaf', 'root', { branding: { accentColor: '#123456' } })], { workspace: ws() });
    expect(effectiveSources(settings(d, 'leaf'))).toEqual({
      'tokens.accessToken': 'workspace',
      'tokens.idToken': 'default',
      'tokens.refreshToken': 'default',
      'mfa.required': 'parent:root',
      'limits.requestsPerMinute': 'parent:root',
      emailDomains: 'organization',
      'branding.accentColor': 'organization',
    });
  });
});
