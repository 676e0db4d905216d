import { durationSeconds } from './common.ts';
import type { Claim } from './kinds/claim-mapping.ts';
import type { AccessPolicyObject, ClaimMappingObject, OrganizationObject, OrganizationTemplateObject, WorkspaceObject } from './kinds/index.ts';
import type { MfaPolicy, RiskRules } from './kinds/organization.ts';
import { intersectCidrs } from './cidr.ts';
import { organizationChain } from './organization-tree.ts';

/**
 * Inheritance down the organization tree, computed in one place (docs/declarations.md,
 * "Inheritance"). An organization's setting is its own, else its template's, else its
 * parent's effective one; where the field is a limit the parent's value is also a ceiling
 * the child cannot lift. Every server path that reads an organization's settings reads them
 * from `effectiveSettings`, so the issuer, the shared issuer, the gates and attest agree.
 */

/** Where an effective value was declared. */
/** `partner`: added at run time by the organization's own administrator, only ever tighter (`Declarations.mfaTightenings`). */
export type Source = 'organization' | `template:${string}` | `parent:${string}` | 'workspace' | 'default' | 'partner';

export interface Sourced<T> {
  value: T;
  source: Source;
}

export type MfaMethod = NonNullable<MfaPolicy['methods']>[number];
export type UpstreamMfa = NonNullable<MfaPolicy['upstreamMfa']>;
export const MFA_METHODS: readonly MfaMethod[] = ['totp', 'webauthn'];

/** What the settings of a namespace's organizations are computed from. */
export interface Declarations {
  workspace: WorkspaceObject | undefined;
  organizations: ReadonlyMap<string, OrganizationObject>;
  templates: ReadonlyMap<string, OrganizationTemplateObject>;
  /** The namespace's ClaimMappings: those without `clientRef` are the organization's own claims. */
  claimMappings?: readonly ClaimMappingObject[];
  policies?: readonly AccessPolicyObject[];
  /**
   * What partner administrators added to their organization's second-factor policy at run
   * time: applied after the declarations, and only where it tightens (a flag turned on, fewer
   * methods, `require-local`); what would loosen is ignored. Inherited by sub-organizations.
   */
  mfaTightenings?: ReadonlyMap<string, MfaPolicy>;
}

export interface Lifetimes {
  accessToken: number;
  idToken: number;
  refreshToken: number;
}
type LifetimeField = keyof Lifetimes;
export const LIFETIME_FIELDS: readonly LifetimeField[] = ['accessToken', 'idToken', 'refreshToken'];

/** What a partner gets when nothing is declared: short access tokens, a working day of refresh. */
export const DEFAULT_LIFETIMES: Lifetimes = { accessToken: 15 * 60, idToken: 15 * 60, refreshToken: 8 * 3600 };
/** The ceilings when the Workspace declares no guardrails. */
export const DEFAULT_CEILINGS: Lifetimes = { accessToken: 3600, idToken: 3600, refreshToken: 30 * 86400 };

export interface EffectiveBranding {
  logo?: Sourced<string>;
  primaryColor?: Sourced<string>;
  accentColor?: Sourced<string>;
}

export interface EffectiveSettings {
  /** Undefined: the workspace's own settings (its shared issuer's, before any organization). */
  organization: string | undefined;
  /** The organization and its parents, nearest first. */
  chain: string[];
  /** Seconds. Ceiling: never above the parent's, nor the Workspace's guardrails. */
  tokens: { [F in LifetimeField]: Sourced<number> };
  /** Ceiling: true anywhere above stays true. */
  mfaRequired: Sourced<boolean>;
  /** Ceiling by intersection: the second factors allowed here and at every level above (default both). */
  mfaMethods: Sourced<MfaMethod[]>;
  /** Ceilings: true anywhere above stays true. Where only a passkey will do. */
  phishingResistant: { administrators: Sourced<boolean>; highValueScopes: Sourced<boolean> };
  /** Ceiling: `require-local` declared above stays (the default, `require-local`, binds nobody). */
  upstreamMfa: Sourced<UpstreamMfa>;
  /**
   * Ceiling by intersection: an address is admitted only when it is in the organization's
   * own blocks and in every ancestor's. Undefined: every network. An empty list: none.
   */
  allowedCidrs: (Sourced<string[]> & { narrowedBy?: Source }) | undefined;
  /** Ceiling by intersection, as allowedCidrs: a country admitted only when every level admits it. Undefined: every country. */
  allowedCountries: Sourced<string[]> | undefined;
  /** Union: a country denied anywhere above stays denied. */
  deniedCountries: Sourced<string[]> | undefined;
  /** The risk engine's rules and thresholds; undefined when no level declares `risk`. */
  risk: EffectiveRisk | undefined;
  /** Ceiling: the lowest of the organization's and its ancestors'. Undefined: no limit. */
  requestsPerMinute: Sourced<number> | undefined;
  /** Not inherited from parents: an email domain belongs to exactly one organization. */
  emailDomains: Sourced<string[]> | undefined;
  /** Inherited field by field. */
  branding: EffectiveBranding;
  /** Inherited and overridden per claim name: the organization's mappings, its template's, its parent's. */
  claims: Sourced<Claim>[];
}

export type RiskRuleName = keyof RiskRules;
export const RISK_RULES: readonly RiskRuleName[] = ['newDevice', 'unusualLocation', 'impossibleTravel', 'failedSignIns', 'clientBurst', 'newClientAddress', 'outsideHours'];
export type RiskThreshold = 'stepUp' | 'deny' | 'suspendClient';
export const RISK_THRESHOLDS: readonly RiskThreshold[] = ['stepUp', 'deny', 'suspendClient'];

/**
 * `risk` down the tree, never loosened below: a rule declared above keeps its parameters and
 * its weight is a floor (a sub-organization may raise it); each threshold is a ceiling (the
 * lowest wins); `suspendFor` the longest.
 */
export interface EffectiveRisk {
  rules: { [R in RiskRuleName]?: Sourced<NonNullable<RiskRules[R]>> };
  thresholds: { [T in RiskThreshold]?: Sourced<number> };
  /** Seconds; undefined: until a person lifts the suspension. */
  suspendFor: Sourced<number> | undefined;
}

/** A value declared on `org` itself or on its template, with where. */
function own<T>(org: OrganizationObject, template: OrganizationTemplateObject | undefined, read: (spec: Partial<OrganizationObject['spec']> & Partial<OrganizationTemplateObject['spec']>) => T | undefined): Sourced<T> | undefined {
  const mine = read(org.spec);
  if (mine !== undefined) return { value: mine, source: 'organization' };
  const inherited = template ? read(template.spec) : undefined;
  return inherited !== undefined ? { value: inherited, source: `template:${template!.metadata.name}` } : undefined;
}

/** The email domains an organization owns: its own, else its template's; never its parent's (a domain belongs to one organization). */
export function declaredEmailDomains(org: OrganizationObject, templates: ReadonlyMap<string, OrganizationTemplateObject>): Sourced<string[]> | undefined {
  return own(org, org.spec.templateRef ? templates.get(org.spec.templateRef.name) : undefined, (s) => s.emailDomains);
}

/** A parent's value as its child sees it: what the parent (or its template) declared is `parent:<name>`. */
function lift<T>(s: Sourced<T>, parent: string): Sourced<T> {
  return s.source === 'organization' || s.source.startsWith('template:') ? { ...s, source: `parent:${parent}` } : s;
}
const liftOptional = <T>(s: Sourced<T> | undefined, parent: string) => (s ? lift(s, parent) : undefined);

const lower = (a: Sourced<number>, b: Sourced<number>) => (b.value < a.value ? b : a);

/** What applies before any organization: the Workspace's lifetimes under its guardrails. */
export function workspaceSettings(workspace: WorkspaceObject | undefined): EffectiveSettings {
  const ceilings = lifetimeCeilings(workspace);
  const tokens = Object.fromEntries(
    LIFETIME_FIELDS.map((f) => {
      const declared = workspace?.spec.tokens?.[f];
      const value: Sourced<number> = declared ? { value: durationSeconds(declared), source: 'workspace' } : { value: DEFAULT_LIFETIMES[f], source: 'default' };
      return [f, lower(value, ceilings[f])];
    }),
  ) as EffectiveSettings['tokens'];
  return { organization: undefined, chain: [], tokens, ...workspaceMfa(workspace), allowedCidrs: undefined, allowedCountries: undefined, deniedCountries: undefined, risk: undefined, requestsPerMinute: undefined, emailDomains: undefined, branding: {}, claims: [] };
}

/** The Workspace's second-factor policy, else the defaults (optional, both methods, local factor for federated users). */
function workspaceMfa(workspace: WorkspaceObject | undefined): Pick<EffectiveSettings, 'mfaRequired' | 'mfaMethods' | 'phishingResistant' | 'upstreamMfa'> {
  const mfa = workspace?.spec.mfa;
  const at = <T>(value: T | undefined, fallback: T): Sourced<T> => (value === undefined ? { value: fallback, source: 'default' } : { value, source: 'workspace' });
  return {
    mfaRequired: at(mfa?.required, false),
    mfaMethods: at(mfa?.methods, [...MFA_METHODS]),
    phishingResistant: { administrators: at(mfa?.requirePhishingResistant?.administrators, false), highValueScopes: at(mfa?.requirePhishingResistant?.highValueScopes, false) },
    upstreamMfa: at(mfa?.upstreamMfa, 'require-local'),
  };
}

type MfaSettings = Pick<EffectiveSettings, 'mfaRequired' | 'mfaMethods' | 'phishingResistant' | 'upstreamMfa'>;

/** A partner administrator's tightening applied to what the declarations came to: only what is stricter takes effect. */
function tighten(t: MfaPolicy | undefined, s: MfaSettings): MfaSettings {
  if (!t) return s;
  const on = (flag: boolean | undefined, current: Sourced<boolean>): Sourced<boolean> => (flag && !current.value ? { value: true, source: 'partner' } : current);
  const fewer = t.methods ? s.mfaMethods.value.filter((m) => t.methods!.includes(m)) : s.mfaMethods.value;
  return {
    mfaRequired: on(t.required, s.mfaRequired),
    mfaMethods: fewer.length > 0 && fewer.length < s.mfaMethods.value.length ? { value: fewer, source: 'partner' } : s.mfaMethods,
    phishingResistant: { administrators: on(t.requirePhishingResistant?.administrators, s.phishingResistant.administrators), highValueScopes: on(t.requirePhishingResistant?.highValueScopes, s.phishingResistant.highValueScopes) },
    upstreamMfa: t.upstreamMfa === 'require-local' && s.upstreamMfa.value === 'trust' ? { value: 'require-local', source: 'partner' } : s.upstreamMfa,
  };
}

/** A boolean ceiling: true above stays true, else the level's own declaration, else what is above. */
function stickyTrue(declared: Sourced<boolean> | undefined, above: Sourced<boolean>): Sourced<boolean> {
  return above.value ? above : (declared ?? above);
}

/** The Workspace's guardrails on lifetimes, else the built-in ceilings. */
export function lifetimeCeilings(workspace: WorkspaceObject | undefined): { [F in LifetimeField]: Sourced<number> } {
  const guard = workspace?.spec.guardrails;
  const max = { accessToken: guard?.maxAccessToken, idToken: guard?.maxIdToken, refreshToken: guard?.maxRefreshToken };
  return Object.fromEntries(LIFETIME_FIELDS.map((f) => [f, max[f] ? { value: durationSeconds(max[f]), source: 'workspace' } : { value: DEFAULT_CEILINGS[f], source: 'default' }])) as { [F in LifetimeField]: Sourced<number> };
}

/** One level down: `org`'s settings from its own declarations and its parent's effective ones. */
function step(decls: Declarations, org: OrganizationObject, above: EffectiveSettings, chain: string[]): EffectiveSettings {
  const name = org.metadata.name;
  const template = org.spec.templateRef ? decls.templates.get(org.spec.templateRef.name) : undefined;
  const parent = above.organization;
  const inherit = <T>(s: Sourced<T>): Sourced<T> => (parent === undefined ? s : lift(s, parent));
  const inheritOptional = <T>(s: Sourced<T> | undefined) => (parent === undefined ? s : liftOptional(s, parent));

  // A root's lifetimes are capped by the guardrails only (the Workspace's own are defaults, not limits).
  const ceilings = parent === undefined ? lifetimeCeilings(decls.workspace) : undefined;
  const tokens = Object.fromEntries(
    LIFETIME_FIELDS.map((f) => {
      const declared = own(org, template, (s) => s.tokens?.[f]);
      const inherited = inherit(above.tokens[f]);
      if (!declared) return [f, inherited];
      const value: Sourced<number> = { value: durationSeconds(declared.value), source: declared.source };
      return [f, lower(value, ceilings ? ceilings[f] : inherited)];
    }),
  ) as EffectiveSettings['tokens'];

  const mfaRequired = stickyTrue(
    own(org, template, (s) => s.mfa?.required),
    inherit(above.mfaRequired),
  );
  const phishingResistant = {
    administrators: stickyTrue(
      own(org, template, (s) => s.mfa?.requirePhishingResistant?.administrators),
      inherit(above.phishingResistant.administrators),
    ),
    highValueScopes: stickyTrue(
      own(org, template, (s) => s.mfa?.requirePhishingResistant?.highValueScopes),
      inherit(above.phishingResistant.highValueScopes),
    ),
  };
  // Methods narrow: what this level allows of what is allowed above (a declaration that would leave none keeps the above's).
  const methodsDeclared = own(org, template, (s) => s.mfa?.methods);
  const methodsAbove = inherit(above.mfaMethods);
  const narrowed = methodsDeclared ? MFA_METHODS.filter((m) => methodsDeclared.value.includes(m) && methodsAbove.value.includes(m)) : [];
  const mfaMethods = methodsDeclared && narrowed.length > 0 ? { value: narrowed, source: methodsDeclared.source } : methodsAbove;
  const upstreamDeclared = own(org, template, (s) => s.mfa?.upstreamMfa);
  const upstreamAbove = inherit(above.upstreamMfa);
  const upstreamMfa = upstreamAbove.source !== 'default' && upstreamAbove.value === 'require-local' ? upstreamAbove : (upstreamDeclared ?? upstreamAbove);
  const tightened = tighten(decls.mfaTightenings?.get(name), { mfaRequired, mfaMethods, phishingResistant, upstreamMfa });

  const cidrs = own(org, template, (s) => s.network?.allowedCidrs);
  const cidrsAbove = inheritOptional(above.allowedCidrs);
  let allowedCidrs: EffectiveSettings['allowedCidrs'] = cidrs ?? cidrsAbove;
  if (cidrs && cidrsAbove) {
    const value = intersectCidrs(cidrs.value, cidrsAbove.value);
    allowedCidrs = sameList(value, cidrs.value) ? cidrs : { value, source: cidrs.source, narrowedBy: cidrsAbove.source };
  }

  const countries = own(org, template, (s) => s.network?.allowedCountries);
  const countriesAbove = inheritOptional(above.allowedCountries);
  const allowedCountries = countries && countriesAbove ? { value: countries.value.filter((c) => countriesAbove.value.includes(c)), source: countries.source } : (countries ?? countriesAbove);
  const denied = own(org, template, (s) => s.network?.deniedCountries);
  const deniedAbove = inheritOptional(above.deniedCountries);
  const deniedCountries = denied && deniedAbove ? { value: [...new Set([...deniedAbove.value, ...denied.value])], source: denied.source } : (denied ?? deniedAbove);
  const risk = riskStep(
    own(org, template, (s) => s.risk),
    parent === undefined ? above.risk : liftRisk(above.risk, parent),
  );

  const rate = own(org, template, (s) => s.limits?.requestsPerMinute);
  const rateAbove = inheritOptional(above.requestsPerMinute);
  const requestsPerMinute = rate && rateAbove ? lower(rate, rateAbove) : (rate ?? rateAbove);

  const branding: EffectiveBranding = {};
  for (const field of ['logo', 'primaryColor', 'accentColor'] as const) {
    const value = own(org, template, (s) => s.branding?.[field]) ?? inheritOptional(above.branding[field]);
    if (value) branding[field] = value;
  }

  const claims = new Map<string, Sourced<Claim>>();
  for (const c of above.claims) claims.set(c.value.name, inherit(c));
  for (const c of template?.spec.claims ?? []) claims.set(c.name, { value: c, source: `template:${template!.metadata.name}` });
  for (const m of decls.claimMappings ?? []) {
    if (m.spec.organizationRef.name !== name || m.spec.clientRef) continue;
    for (const c of m.spec.claims) claims.set(c.name, { value: c, source: 'organization' });
  }

  return {
    organization: name,
    chain,
    tokens,
    ...tightened,
    allowedCidrs,
    allowedCountries,
    deniedCountries,
    risk,
    requestsPerMinute,
    emailDomains: declaredEmailDomains(org, decls.templates),
    branding,
    claims: [...claims.values()],
  };
}

function liftRisk(risk: EffectiveRisk | undefined, parent: string): EffectiveRisk | undefined {
  if (!risk) return undefined;
  const rules: EffectiveRisk['rules'] = {};
  for (const r of RISK_RULES) if (risk.rules[r]) (rules as Record<string, Sourced<unknown>>)[r] = lift(risk.rules[r]!, parent);
  const thresholds: EffectiveRisk['thresholds'] = {};
  for (const t of RISK_THRESHOLDS) if (risk.thresholds[t]) thresholds[t] = lift(risk.thresholds[t]!, parent);
  return { rules, thresholds, suspendFor: liftOptional(risk.suspendFor, parent) };
}

/** One level's declared `risk` over its parent's effective one (see EffectiveRisk). */
function riskStep(declared: Sourced<NonNullable<OrganizationObject['spec']['risk']>> | undefined, above: EffectiveRisk | undefined): EffectiveRisk | undefined {
  if (!declared) return above;
  const { value, source } = declared;
  const rules: Record<string, Sourced<{ weight: number }>> = { ...(above?.rules as Record<string, Sourced<{ weight: number }>> | undefined) };
  for (const r of RISK_RULES) {
    const mine = value.rules?.[r];
    if (!mine) continue;
    const inherited = rules[r];
    // A parent's rule keeps its parameters; only a heavier weight is taken from below.
    rules[r] = !inherited ? { value: mine, source } : mine.weight > inherited.value.weight ? { value: { ...inherited.value, weight: mine.weight }, source } : inherited;
  }
  const thresholds: EffectiveRisk['thresholds'] = { ...above?.thresholds };
  for (const t of RISK_THRESHOLDS) {
    const mine = value.thresholds?.[t];
    if (mine === undefined) continue;
    const inherited = thresholds[t];
    thresholds[t] = inherited && inherited.value <= mine ? inherited : { value: mine, source };
  }
  const seconds = value.suspendFor ? durationSeconds(value.suspendFor) : undefined;
  const suspendFor = seconds === undefined ? above?.suspendFor : above?.suspendFor && above.suspendFor.value >= seconds ? above.suspendFor : { value: seconds, source };
  return { rules: rules as EffectiveRisk['rules'], thresholds, suspendFor };
}

/**
 * The effective settings of `organization` with where each came from; undefined when it does
 * not exist. The parent chain is walked once, cycle-safe and depth-limited.
 */
export function effectiveSettings(decls: Declarations, organization: string): EffectiveSettings | undefined {
  const chain = organizationChain(decls.organizations, organization);
  if (chain.length === 0) return undefined;
  const names = chain.map((o) => o.metadata.name);
  let settings = workspaceSettings(decls.workspace);
  for (let i = chain.length - 1; i >= 0; i--) settings = step(decls, chain[i]!, settings, names.slice(i));
  return settings;
}

/** What one scope of an AccessPolicy comes to for an organization, after its ancestors' policies. */
export interface EffectiveScope {
  scope: string;
  requireMfa: Sourced<boolean>;
  requireApproval: Sourced<boolean>;
}

/**
 * The API scopes `client` may get for users of `organization`, with their step-up flags. A
 * level grants a scope when one of its AccessPolicies does, generally or naming the client;
 * a sub-organization gets a scope only when its own policies and every ancestor's grant it
 * (no policy above, nothing below), and a `requireMfa` / `requireApproval` set above stays set.
 */
export function effectiveScopes(decls: Declarations, organization: string, client: string): Map<string, EffectiveScope> {
  const chain = organizationChain(decls.organizations, organization);
  let allowed: Map<string, EffectiveScope> | undefined;
  for (let i = chain.length - 1; i >= 0; i--) {
    const level = chain[i]!.metadata.name;
    const granted = new Map<string, EffectiveScope>();
    for (const p of decls.policies ?? []) {
      if (p.spec.organizationRef.name !== level || (p.spec.clientRef && p.spec.clientRef.name !== client)) continue;
      for (const s of p.spec.scopes) {
        const prior = granted.get(s.scope);
        granted.set(s.scope, {
          scope: s.scope,
          requireMfa: { value: Boolean(prior?.requireMfa.value || s.requireMfa), source: 'organization' },
          requireApproval: { value: Boolean(prior?.requireApproval.value || s.requireApproval), source: 'organization' },
        });
      }
    }
    if (allowed) {
      const parent = chain[i + 1]!.metadata.name;
      for (const [scope, mine] of granted) {
        const above = allowed.get(scope);
        if (!above) granted.delete(scope);
        else {
          const mfa = lift(above.requireMfa, parent);
          const approval = lift(above.requireApproval, parent);
          granted.set(scope, { scope, requireMfa: mfa.value ? mfa : mine.requireMfa, requireApproval: approval.value ? approval : mine.requireApproval });
        }
      }
    }
    allowed = granted;
  }
  return allowed ?? new Map();
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
