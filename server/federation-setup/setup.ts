import type { Context } from 'koa';
import { z } from 'zod';
import { GROUP_VERSION, IdPConnection, SOURCE_ANNOTATION, domainName, parseObject, type IdPConnectionObject, type OrganizationObject, type OrganizationTemplateObject } from '../../api/index.ts';
import type { ChangeContext, ObjectService } from '../objects/service.ts';
import { Problem, badRequest, notFound } from '../errors.ts';
import type { AuditAction } from '../audit/actions.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Broker, DraftConnections } from '../broker/broker.ts';
import { connectionEndpoints } from '../broker/endpoints.ts';
import { render } from '../broker/pages.ts';
import { mapAttributes } from '../broker/provision.ts';
import type { UpstreamSecrets } from '../broker/secrets.ts';
import type { UpstreamIdentity, UpstreamResult } from '../broker/upstreams/index.ts';
import type { Clock } from '../clock.ts';
import { emailDomain, ownedDomains } from '../governance/domains.ts';
import { escapeHtml, type PageBranding } from '../oidc/html.ts';
import type { FederationDraftRow, Store } from '../store/index.ts';
import type { FetchGuardOptions } from '../broker/upstreams/fetch-guard.ts';
import { InspectionFailed, inspect, type InspectRequest, type Inspection } from './inspect.ts';

/**
 * An IdPConnection a partner administrator enabled in the portal carries SOURCE_ANNOTATION
 * `portal`: runtime state, never deleted by a controller (it carries no `managed-by`),
 * exported by `gatehouse export` without it, so the committed declaration takes it over.
 */
export const PORTAL_SOURCE = 'portal';

export const PORTAL_PRIORITY = 50;

export const isPortalObject = (object: { metadata: { annotations?: Record<string, string> | undefined } }) => object.metadata.annotations?.[SOURCE_ANNOTATION] === PORTAL_SOURCE;

/** What a partner administrator sends to save a draft: the IdP, never the connection's policy (roles, priority, mapping). */
export const DraftInput = z.strictObject({
  type: z.enum(['oidc', 'saml']),
  displayName: z.string().min(1).max(200).optional(),
  /** Which of the organization's domains sign in here; all of them when omitted. */
  emailDomains: z.array(domainName).min(1).max(50).optional(),
  oidc: z
    .strictObject({
      issuer: z.string().min(1).max(2048),
      clientId: z.string().min(1).max(256),
      /** Written to the upstream secret store, never kept in the draft or shown again. */
      clientSecret: z.string().min(1).max(4096).optional(),
    })
    .optional(),
  saml: z.strictObject({ metadataUrl: z.string().min(1).max(2048).optional(), metadataXml: z.string().min(1).max(1_048_576).optional() }).optional(),
});
export type DraftInput = z.infer<typeof DraftInput>;

const TestResult = z.object({
  ok: z.boolean(),
  at: z.string(),
  revision: z.number(),
  subject: z.string().optional(),
  email: z.string().optional(),
  claims: z.record(z.string(), z.unknown()).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type TestResult = z.infer<typeof TestResult>;

const IdPConnectionSpec = IdPConnection.spec;
type IdPConnectionSpec = z.infer<typeof IdPConnectionSpec>;

const StoredInspection = z.custom<Inspection>((v) => typeof v === 'object' && v !== null);

export interface DraftView {
  name: string;
  organization: string;
  type: 'oidc' | 'saml';
  state: 'draft' | 'tested' | 'test-failed';
  revision: number;
  displayName?: string;
  emailDomains: string[];
  spec: IdPConnectionSpec;
  inspection: Omit<Inspection, 'metadataXml'>;
  /** What the partner registers at its IdP: the same endpoints the enabled connection will have. */
  register: Record<string, string>;
  test: TestResult | null;
  updatedAt: string;
  updatedBy: string;
}

export interface FederationSetupOptions {
  store: Store;
  clock: Clock;
  objects: ObjectService;
  secrets: UpstreamSecrets;
  audit: AuditWriter;
  broker: Broker;
  publicUrl: () => string;
  fetch?: FetchGuardOptions;
}

const conflict = (detail: string, field?: string) => new Problem(409, 'Conflict', detail, field ? { errors: [{ path: field, message: detail }] } : {});

const MAX_CLAIMS = 40;
/** Claims shown back to the partner administrator: bounded, strings cut short, nothing nested deeper than a list of strings. */
function shownClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims).slice(0, MAX_CLAIMS)) {
    if (typeof v === 'string') out[k.slice(0, 200)] = v.slice(0, 300);
    else if (typeof v === 'number' || typeof v === 'boolean') out[k.slice(0, 200)] = v;
    else if (Array.isArray(v)) out[k.slice(0, 200)] = v.slice(0, 10).map((e) => String(e).slice(0, 300));
  }
  return out;
}

/**
 * Guided IdP setup for partner administrators: inspect an IdP, keep a draft, test it with a
 * real sign-in that provisions nobody, then enable it as an IdPConnection marked
 * `source: portal`. The guardrails are the ones declarations have, plus the ones a delegated
 * administrator needs: only its organization's own email domains, never over a connection
 * declared in git, never another organization's name, https only, no roles for JIT users.
 */
export class FederationSetup implements DraftConnections {
  private readonly o: FederationSetupOptions;

  constructor(options: FederationSetupOptions) {
    this.o = options;
  }

  private async record(action: AuditAction, namespace: string, organization: string, actor: string, name: string | null, data: Record<string, unknown>, outcome = 'success'): Promise<void> {
    await this.o.audit.append({ action, actor, namespace, organization, outcome, ...(name ? { kind: 'IdPConnection', name } : {}), data: { source: PORTAL_SOURCE, ...data } });
  }

  private guard(): FetchGuardOptions {
    return this.o.fetch ?? {};
  }

  async inspect(namespace: string, organization: string, request: InspectRequest, actor: string): Promise<Inspection> {
    const now = this.o.clock.now();
    const target = request.type === 'oidc' ? request.issuer : 'metadataUrl' in request ? request.metadataUrl : 'metadata XML';
    try {
      const result = await inspect(request, this.guard(), now);
      await this.record('federation.inspected', namespace, organization, actor, null, { type: request.type, target: target.slice(0, 512), entityId: result.entityId });
      return result;
    } catch (error) {
      if (!(error instanceof InspectionFailed)) throw error;
      await this.record('federation.inspected', namespace, organization, actor, null, { type: request.type, target: target.slice(0, 512), problem: error.message.slice(0, 512) }, 'failure');
      throw new Problem(422, 'IdP could not be read', error.message, { errors: [{ path: error.field, message: error.message }] });
    }
  }

  private async organization(namespace: string, organization: string): Promise<{ org: OrganizationObject; domains: string[] }> {
    const stored = await this.o.store.objects.get('Organization', namespace, organization);
    if (!stored) throw notFound(`Organization ${namespace}/${organization} does not exist`);
    const org = stored.object as OrganizationObject;
    const templates = new Map((await this.o.store.objects.list({ kind: 'OrganizationTemplate', namespace })).map((t) => [t.object.metadata.name, t.object as OrganizationTemplateObject]));
    return { org, domains: ownedDomains(org, templates) };
  }

  /** The name must be free, or this organization's own portal connection (an edit of it). */
  private async nameFree(namespace: string, organization: string, name: string): Promise<IdPConnectionObject | undefined> {
    const existing = (await this.o.store.objects.get('IdPConnection', namespace, name))?.object as IdPConnectionObject | undefined;
    if (existing && (!isPortalObject(existing) || existing.spec.organizationRef.name !== organization)) {
      // Whose it is stays unsaid: another organization's connection is not this administrator's business.
      throw conflict(`the name ${name} is taken by a connection declared by your platform team or another organization; choose another name`, 'metadata.name');
    }
    const draft = await this.o.store.federationDrafts.get(namespace, name);
    if (draft && draft.organization !== organization) throw conflict(`the name ${name} is taken; choose another name`, 'metadata.name');
    return existing;
  }

  /** Domains: the organization's own only, and none a connection declared in git already signs in through a federated IdP. */
  private async checkDomains(namespace: string, organization: string, name: string, domains: string[], owned: string[]): Promise<void> {
    const foreign = domains.filter((d) => !owned.includes(d));
    if (foreign.length > 0) throw new Problem(422, 'Invalid object', `emailDomains: ${foreign.join(', ')} ${foreign.length === 1 ? 'is' : 'are'} not among your organization's domains (${owned.join(', ') || 'none'})`, { errors: [{ path: 'emailDomains', message: 'only the organization’s own email domains' }] });
    const declared = (await this.o.store.objects.list({ kind: 'IdPConnection', namespace })).map((r) => r.object as IdPConnectionObject).filter((c) => c.metadata.name !== name && c.spec.organizationRef.name === organization && !isPortalObject(c) && c.spec.type !== 'directory');
    for (const c of declared) {
      const taken = domains.filter((d) => (c.spec.emailDomains ?? owned).includes(d));
      if (taken.length > 0) throw conflict(`${taken.join(', ')} already sign${taken.length === 1 ? 's' : ''} in through ${c.metadata.name}, declared by your platform team; ask them to change it there`, 'emailDomains');
    }
  }

  private secretName(name: string): string {
    return `${name}-client-secret`.slice(0, 63).replace(/-+$/, '');
  }

  async saveDraft(namespace: string, organization: string, name: string, raw: unknown, context: ChangeContext): Promise<DraftView> {
    const parsed = DraftInput.safeParse(raw);
    if (!parsed.success)
      throw badRequest(
        `draft ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    const input = parsed.data;
    const { domains: owned } = await this.organization(namespace, organization);
    const existing = await this.nameFree(namespace, organization, name);
    const domains = input.emailDomains ?? owned;
    await this.checkDomains(namespace, organization, name, domains, owned);

    let request: InspectRequest;
    if (input.type === 'oidc') {
      if (!input.oidc || input.saml) throw badRequest(`draft ${name}: oidc: required when type is oidc (and saml not allowed)`, [{ path: 'oidc', message: 'required when type is oidc' }]);
      request = { type: 'oidc', issuer: input.oidc.issuer };
    } else {
      const s = input.saml;
      if (!s || input.oidc || (s.metadataUrl === undefined) === (s.metadataXml === undefined)) throw badRequest(`draft ${name}: saml: give either metadataUrl or metadataXml`, [{ path: 'saml', message: 'give either metadataUrl or metadataXml' }]);
      request = s.metadataUrl !== undefined ? { type: 'saml', metadataUrl: s.metadataUrl } : { type: 'saml', metadataXml: s.metadataXml! };
    }
    const inspection = await this.inspect(namespace, organization, request, context.actor);

    // The secret is the portal's own only when a draft or connection of this organization wrote it.
    const previous = await this.o.store.federationDrafts.get(namespace, name);
    const secretName = this.secretName(name);
    const ours = previous?.secretName === secretName || existing?.spec.oidc?.clientSecretRef?.name === secretName;
    if (input.oidc?.clientSecret !== undefined) {
      if (!ours && (await this.o.secrets.describe(namespace, secretName))) throw conflict(`a secret named ${secretName} already exists and was not written by this setup; choose another connection name`, 'metadata.name');
      await this.o.secrets.put(namespace, secretName, { data: { 'client-secret': input.oidc.clientSecret } }, { actor: context.actor, provenance: { source: PORTAL_SOURCE } });
    }
    const keepsSecret = input.oidc !== undefined && (input.oidc.clientSecret !== undefined || ours);

    const spec = IdPConnectionSpec.safeParse({
      organizationRef: { name: organization },
      type: input.type,
      ...(input.displayName ? { displayName: input.displayName } : {}),
      ...(input.emailDomains ? { emailDomains: input.emailDomains } : {}),
      // JIT users get no roles: a delegated administrator never grants by IdP what it could not grant by hand.
      jit: { enabled: true },
      // Ahead of a declared directory (default 100): the organization's own IdP takes its domains over.
      // A declared federated connection on the same domains is refused above, so it is never outranked.
      priority: PORTAL_PRIORITY,
      ...(input.type === 'oidc'
        ? { oidc: { issuer: inspection.entityId, clientId: input.oidc!.clientId, ...(keepsSecret ? { clientSecretRef: { name: secretName, key: 'client-secret' } } : {}) } }
        : { saml: request.type === 'saml' && 'metadataUrl' in request ? { metadataUrl: request.metadataUrl } : { metadataXml: inspection.metadataXml } }),
    });
    if (!spec.success)
      throw badRequest(
        `draft ${name}: ${spec.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        spec.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );

    const revision = await this.o.store.federationDrafts.save({
      namespace,
      name,
      organization,
      spec: JSON.stringify(spec.data),
      inspection: JSON.stringify(inspection),
      secretName: keepsSecret ? secretName : null,
      actor: context.actor,
      updatedAt: this.o.clock.now(),
    });
    if (revision === undefined) throw conflict(`the name ${name} is taken; choose another name`, 'metadata.name');
    await this.record('federation.draft-saved', namespace, organization, context.actor, name, { type: input.type, revision, entityId: inspection.entityId, emailDomains: domains });
    return this.view((await this.o.store.federationDrafts.get(namespace, name))!);
  }

  private view(row: FederationDraftRow): DraftView {
    const spec = IdPConnectionSpec.parse(JSON.parse(row.spec));
    const { metadataXml: _xml, ...inspection } = StoredInspection.parse(JSON.parse(row.inspection));
    const test = row.test ? TestResult.parse(JSON.parse(row.test)) : null;
    const endpoints = connectionEndpoints(this.o.publicUrl(), row.namespace, { metadata: { name: row.name }, spec } as IdPConnectionObject);
    return {
      name: row.name,
      organization: row.organization,
      type: spec.type as 'oidc' | 'saml',
      state: test === null ? 'draft' : test.ok ? 'tested' : 'test-failed',
      revision: row.revision,
      ...(spec.displayName ? { displayName: spec.displayName } : {}),
      emailDomains: spec.emailDomains ?? [],
      spec,
      inspection,
      register: spec.type === 'oidc' ? { redirectUri: endpoints.redirectUri } : { acsUrl: endpoints.acsUrl, spEntityId: endpoints.metadataUrl, spMetadataUrl: endpoints.metadataUrl },
      test,
      updatedAt: new Date(row.updatedAt).toISOString(),
      updatedBy: row.actor,
    };
  }

  private async row(namespace: string, organization: string, name: string): Promise<FederationDraftRow> {
    const row = await this.o.store.federationDrafts.get(namespace, name);
    // Another organization's draft answers exactly as a missing one.
    if (!row || row.organization !== organization) throw notFound(`there is no draft ${name} in organization ${namespace}/${organization}`);
    return row;
  }

  async draft(namespace: string, organization: string, name: string): Promise<DraftView> {
    return this.view(await this.row(namespace, organization, name));
  }

  /** Drafts, and the organization's connections with where each came from (portal or declared). */
  async overview(namespace: string, organization: string): Promise<{ drafts: DraftView[]; connections: { name: string; type: string; source: 'portal' | 'declared'; displayName?: string; emailDomains: string[] }[] }> {
    const drafts = (await this.o.store.federationDrafts.list(namespace, organization)).map((r) => this.view(r));
    const connections = (await this.o.store.objects.list({ kind: 'IdPConnection', namespace }))
      .map((r) => r.object as IdPConnectionObject)
      .filter((c) => c.spec.organizationRef.name === organization)
      .map((c) => ({ name: c.metadata.name, type: c.spec.type, source: isPortalObject(c) ? ('portal' as const) : ('declared' as const), ...(c.spec.displayName ? { displayName: c.spec.displayName } : {}), emailDomains: c.spec.emailDomains ?? [] }));
    return { drafts, connections };
  }

  async deleteDraft(namespace: string, organization: string, name: string, context: ChangeContext): Promise<void> {
    await this.row(namespace, organization, name);
    await this.o.store.federationDrafts.delete(namespace, name, organization);
    await this.record('federation.draft-deleted', namespace, organization, context.actor, name, {});
  }

  /** The draft as a connection object, for its test sign-in; SAML metadata as it was read and shown. */
  private testConnection(row: FederationDraftRow): IdPConnectionObject {
    const spec = IdPConnectionSpec.parse(JSON.parse(row.spec));
    const inspection = StoredInspection.parse(JSON.parse(row.inspection));
    const tested = spec.type === 'saml' && inspection.metadataXml ? { ...spec, saml: { metadataXml: inspection.metadataXml } } : spec;
    // Marked as the portal's: the broker fetches its URLs through the private-address guard.
    return parseObject({ apiVersion: GROUP_VERSION, kind: 'IdPConnection', metadata: { name: row.name, namespace: row.namespace, annotations: { [SOURCE_ANNOTATION]: PORTAL_SOURCE } }, spec: tested }) as IdPConnectionObject;
  }

  async startTest(namespace: string, organization: string, name: string, context: ChangeContext, loginHint = ''): Promise<{ url: string; revision: number }> {
    const row = await this.row(namespace, organization, name);
    const started = await this.o.broker.startTest(namespace, this.testConnection(row), row.revision, loginHint);
    if (!started.ok) {
      await this.record('federation.test-started', namespace, organization, context.actor, name, { revision: row.revision, reason: started.failure.reason }, 'failure');
      throw new Problem(502, 'IdP could not be asked', started.failure.message, { extra: { reason: started.failure.reason } });
    }
    await this.record('federation.test-started', namespace, organization, context.actor, name, { revision: row.revision });
    return { url: started.url, revision: row.revision };
  }

  // ── DraftConnections: what the broker asks while a test sign-in runs ──

  async connection(namespace: string, organization: string, name: string): Promise<IdPConnectionObject | undefined> {
    const row = await this.o.store.federationDrafts.get(namespace, name);
    return row && row.organization === organization ? this.testConnection(row) : undefined;
  }

  async finished(ctx: Context, test: { namespace: string; organization: string; connection: string; revision: number }, result: UpstreamResult<UpstreamIdentity>): Promise<void> {
    const { namespace, organization, connection: name, revision } = test;
    const { org, domains } = await this.organization(namespace, organization);
    const branding: PageBranding = { title: org.spec.displayName ?? organization, primaryColor: org.spec.branding?.primaryColor, logo: org.spec.branding?.logo };
    const at = new Date(this.o.clock.now()).toISOString();
    let outcome: TestResult;
    if (!result.ok) {
      outcome = { ok: false, at, revision, reason: result.failure.reason, message: result.failure.message };
    } else {
      const row = await this.o.store.federationDrafts.get(namespace, name);
      const connection = row ? this.testConnection(row) : undefined;
      const mapped = connection ? mapAttributes(connection, result.value.claims) : {};
      const email = typeof mapped.email === 'string' ? mapped.email.toLowerCase() : undefined;
      const allowed = connection?.spec.emailDomains ?? domains;
      const domain = email ? emailDomain(email) : undefined;
      const base = { at, revision, subject: result.value.subject.slice(0, 256), claims: shownClaims(result.value.claims), ...(email ? { email } : {}) };
      if (!email) outcome = { ...base, ok: false, reason: 'no-email', message: 'The IdP signed the user in but sent no email address: add an email claim (OIDC) or attribute / NameID (SAML) to what it releases.' };
      else if (!domain || !allowed.includes(domain)) outcome = { ...base, ok: false, reason: 'email-domain', message: `The IdP vouched for ${email}, which is not in this connection's domains (${allowed.join(', ')}): such users would be refused.` };
      else outcome = { ...base, ok: true, message: `The IdP signed in ${email}. Nobody was signed in to any application and no user was created.` };
    }
    const recorded = await this.o.store.federationDrafts.recordTest(namespace, name, revision, JSON.stringify(outcome));
    await this.record('federation.tested', namespace, organization, `idp:${name}`, name, { revision, ok: outcome.ok, ...(outcome.reason ? { reason: outcome.reason } : {}), ...(outcome.email ? { email: outcome.email } : {}), ...(recorded ? {} : { stale: true }) }, outcome.ok ? 'success' : 'failure');
    // The page's stylesheet is the sign-in pages' own: long claim names (SAML attribute URIs) must wrap inside a phone's width.
    const claims = outcome.claims
      ? `<h2>What the IdP sent</h2><table class="claims" style="width:100%;table-layout:fixed;border-collapse:collapse;overflow-wrap:anywhere"><tbody>${Object.entries(outcome.claims)
          .map(([k, v]) => `<tr><th scope="row" style="text-align:left;vertical-align:top;padding:.25rem .5rem .25rem 0;width:40%">${escapeHtml(k)}</th><td style="vertical-align:top;padding:.25rem 0">${escapeHtml(Array.isArray(v) ? v.join(', ') : String(v))}</td></tr>`)
          .join('')}</tbody></table>`
      : '';
    const stale = recorded ? '' : '<p class="error">The draft changed while this test ran: this result was not recorded. Run the test again.</p>';
    render(ctx, 200, branding, outcome.ok ? 'Test sign-in succeeded' : 'Test sign-in failed', `<div style="overflow-wrap:anywhere"><p id="test-result" class="${outcome.ok ? 'ok' : 'error'}">${escapeHtml(outcome.message ?? '')}</p>${stale}${claims}<p>You can close this tab and return to the sign-in setup.</p></div>`);
  }

  // ── enabling ──

  async enable(namespace: string, organization: string, name: string, context: ChangeContext): Promise<IdPConnectionObject> {
    const row = await this.row(namespace, organization, name);
    const test = row.test ? TestResult.parse(JSON.parse(row.test)) : null;
    if (!test?.ok || test.revision !== row.revision) {
      throw conflict(`draft ${name} has ${test ? (test.ok ? 'changed since its test' : 'failed its last test') : 'not been tested'}: run a test sign-in that succeeds before enabling it`);
    }
    // Checked again: the organization's domains or the declarations may have changed since the draft was saved.
    const { domains: owned } = await this.organization(namespace, organization);
    await this.nameFree(namespace, organization, name);
    const spec = IdPConnectionSpec.parse(JSON.parse(row.spec));
    await this.checkDomains(namespace, organization, name, spec.emailDomains ?? owned, owned);
    const object = {
      apiVersion: GROUP_VERSION,
      kind: 'IdPConnection',
      metadata: { name, namespace, annotations: { [SOURCE_ANNOTATION]: PORTAL_SOURCE } },
      spec,
    };
    const applied = await this.o.objects.apply(object, { actor: context.actor, provenance: { ...(context.provenance ?? {}), source: PORTAL_SOURCE } }, { namespace, kind: 'IdPConnection', name });
    await this.o.objects.setStatus('IdPConnection', namespace, name, { ...((applied.object.status ?? {}) as Record<string, unknown>), source: { type: PORTAL_SOURCE, author: context.actor, date: new Date(this.o.clock.now()).toISOString() } });
    await this.o.store.federationDrafts.delete(namespace, name, organization);
    await this.record('federation.enabled', namespace, organization, context.actor, name, { revision: row.revision, type: spec.type, outcome: applied.outcome });
    return (await this.o.objects.get('IdPConnection', namespace, name)) as IdPConnectionObject;
  }

  /** Removes a connection enabled in the portal; a declared one is the platform team's (refused). */
  async disable(namespace: string, organization: string, name: string, context: ChangeContext): Promise<void> {
    const stored = (await this.o.store.objects.get('IdPConnection', namespace, name))?.object as IdPConnectionObject | undefined;
    if (!stored || stored.spec.organizationRef.name !== organization) throw notFound(`there is no connection ${name} in organization ${namespace}/${organization}`);
    if (!isPortalObject(stored)) throw conflict(`connection ${name} is declared by your platform team (git or Pulumi); ask them to change it there`);
    await this.o.objects.delete('IdPConnection', namespace, name, { actor: context.actor, provenance: { source: PORTAL_SOURCE } });
    await this.record('federation.disabled', namespace, organization, context.actor, name, {});
  }
}
