import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { IdPConnectionObject } from '../../api/index.ts';
import type { AuditAction } from '../audit/actions.ts';
import { readForm } from '../oidc/forms.ts';
import { brandingOf, type IssuerSnapshot } from '../oidc/snapshot.ts';
import { signalsOf } from '../risk/signals.ts';
import type { Broker, BrokerAuditFields, BrokerIssuer, BrokerOptions, DraftConnections } from './broker.ts';
import { Pending, REQUEST_TTL_MS, vanityOf } from './pending.ts';
import { provisionUser, type UpstreamIdentity } from './provision.ts';
import { upstreamLogin } from './upstream-mfa.ts';
import type { UpstreamFailure, Upstreams, UpstreamType } from './upstreams/index.ts';
import { MALFORMED_SAML } from './upstreams/saml.ts';

const SAML_FORM_LIMIT = 512 * 1024;

const token = () => randomBytes(32).toString('base64url');

/** An answer that names no sign-in in progress, per type (each protocol names its correlation differently). */
const UNMATCHED: Record<UpstreamType, UpstreamFailure> = {
  oidc: { reason: 'state-mismatch', message: 'This sign-in response does not match a sign-in in progress (unknown or reused state). Start again from the application.' },
  saml: { reason: 'unknown-relay-state', message: 'This SAML response does not match a sign-in in progress (unknown or reused RelayState). Start again from the application.' },
};

export interface UpstreamAnswerDeps {
  options: BrokerOptions;
  upstreams: Upstreams;
  /** The draft connections under test (Broker.drafts, set once the federation setup is built). */
  drafts: () => DraftConnections | undefined;
  /** A declared connection of the issuer's organization (Broker.connection). */
  connection: (snapshot: IssuerSnapshot, name: string) => IdPConnectionObject | undefined;
  endpoints: Broker['endpoints'];
  audit: (snapshot: IssuerSnapshot, action: AuditAction, fields: BrokerAuditFields) => Promise<void>;
  /** The broker's refusal: audited as a refused sign-in, then shown. */
  refuse: Broker['refuse'];
  /** The broker's end of a first factor (risk, then the second factor or back to the client). */
  complete: Broker['complete'];
  /** The browser's device digest at the issuer (Broker.device), for the sign-in's signals. */
  device: Broker['device'];
}

/**
 * Back from the partner's IdP: its answer (OIDC callback or SAML ACS) must name a sign-in in
 * progress for the connection, its upstream checks it, and the issuer the client started at
 * provisions the user just in time and hands the first factor to `Broker.complete`. A test
 * sign-in through a draft connection ends at the federation setup instead.
 */
export class UpstreamAnswer {
  private readonly deps: UpstreamAnswerDeps;

  constructor(deps: UpstreamAnswerDeps) {
    this.deps = deps;
  }

  private async take(id: string): Promise<Pending | undefined> {
    const raw = await this.deps.options.store.broker.takeRequest(id, this.deps.options.clock.now());
    return raw ? Pending.parse(JSON.parse(raw)) : undefined;
  }

  async oidcCallback(ctx: Context, issuer: BrokerIssuer, connectionName: string): Promise<void> {
    const params = new URLSearchParams(ctx.querystring);
    await this.finishUpstream(ctx, issuer, 'oidc', connectionName, params.get('state') ?? '', params);
  }

  async samlAcs(ctx: Context, issuer: BrokerIssuer, connection: IdPConnectionObject): Promise<void> {
    let form: URLSearchParams;
    try {
      form = await readForm(ctx, SAML_FORM_LIMIT);
    } catch (error) {
      if ((error as { status?: number }).status !== 413) throw error;
      await this.deps.refuse(ctx, issuer.snapshot, 413, brandingOf(issuer.snapshot), 'Sign-in failed', `The SAML response is larger than ${SAML_FORM_LIMIT / 1024} KiB, which is never accepted.`, { reason: 'malformed-response', connection: connection.metadata.name });
      return;
    }
    // The interaction cookie is SameSite=lax and does not come with this cross-site POST: RelayState names the sign-in.
    await this.finishUpstream(ctx, issuer, 'saml', connection.metadata.name, form.get('RelayState') ?? '', form);
  }

  /** The IdP's answer: it must name a sign-in in progress for this connection, then its upstream checks it. */
  private async finishUpstream(ctx: Context, issuer: BrokerIssuer, type: UpstreamType, connectionName: string, correlation: string, params: URLSearchParams): Promise<void> {
    const { snapshot } = issuer;
    const branding = brandingOf(snapshot);
    const pending = correlation ? await this.take(`${type}:${correlation}`) : undefined;
    const test = pending?.test && pending.test.organization === snapshot.organization ? pending.test : undefined;
    // A test answers for the draft it was started for; anything else for a declared (or enabled) connection only.
    const connection = test ? await this.deps.drafts()?.connection(snapshot.namespace, test.organization, connectionName) : this.deps.connection(snapshot, connectionName);
    const expected = pending?.[type];
    // A test started at another organization's issuer never becomes a sign-in here.
    if (!connection || connection.spec.type !== type || !pending || !expected || pending.connection !== connectionName || (pending.test && !test)) {
      await this.deps.refuse(ctx, snapshot, 400, branding, 'Sign-in failed', UNMATCHED[type].message, { reason: UNMATCHED[type].reason, connection: connectionName });
      return;
    }
    const result = await this.deps.upstreams[type].finish({ connection, namespace: snapshot.namespace, endpoints: this.deps.endpoints(snapshot.namespace, connection), expected, params });
    if (test) {
      ctx.set('Cache-Control', 'no-store');
      await this.deps.drafts()!.finished(ctx, { namespace: snapshot.namespace, organization: test.organization, connection: connectionName, revision: test.revision }, result);
      return;
    }
    if (!result.ok) {
      const { reason, message, code } = result.failure;
      await this.deps.refuse(ctx, snapshot, MALFORMED_SAML.has(reason) ? 400 : 401, branding, 'Sign-in failed', message, { reason, ...(code ? { code } : {}), connection: connectionName, client: pending.clientId });
      return;
    }
    await this.verified(ctx, snapshot, pending, result.value, ['fed']);
  }

  /** The IdP's word is checked: hand it to the issuer the client started at, under its interaction path (where its cookie is sent). */
  private async verified(ctx: Context, snapshot: IssuerSnapshot, pending: Pending, identity: UpstreamIdentity, amr: string[]): Promise<void> {
    const id = token();
    // What the partner's IdP asserted about how the user signed in (a second factor or not): upstreamMfa reads it.
    const asserted = upstreamLogin(identity.claims);
    const next: Pending = { ...pending, stage: 'verified', identity, login: { accountId: '', amr: [...new Set([...amr, ...asserted.amr])], acr: asserted.acr }, oidc: undefined, saml: undefined };
    await this.deps.options.store.broker.putRequest(`verified:${id}`, snapshot.namespace, JSON.stringify(next), this.deps.options.clock.now() + REQUEST_TTL_MS);
    ctx.status = 303;
    ctx.redirect(`${pending.vanityIssuer ?? ''}${pending.issuerPath}/interaction/${pending.uid}/federated?r=${id}`);
  }

  async federated(ctx: Context, issuer: BrokerIssuer, uid: string): Promise<void> {
    const { provider, snapshot } = issuer;
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const id = typeof ctx.query.r === 'string' ? ctx.query.r : '';
    const pending = id ? await this.take(`verified:${id}`) : undefined;
    if (details.uid !== uid || !pending?.identity || pending.uid !== uid || pending.issuerPath !== snapshot.path || pending.vanityIssuer !== vanityOf(issuer).vanityIssuer) {
      await this.deps.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'This sign-in does not belong to this browser session. Start again from the application.', { reason: 'interaction-mismatch' });
      return;
    }
    const connection = snapshot.connections.find((c) => c.metadata.name === pending.connection);
    const organization = connection ? snapshot.organizations.get(connection.spec.organizationRef.name) : undefined;
    if (!connection || !organization || (snapshot.organization && organization.metadata.name !== snapshot.organization)) {
      await this.deps.refuse(ctx, snapshot, 400, brandingOf(snapshot), 'Sign-in failed', 'The identity provider of this sign-in is no longer configured.', { reason: 'connection-gone', connection: pending.connection });
      return;
    }
    const branding = brandingOf(snapshot, organization?.metadata.name);
    const now = this.deps.options.clock.now();
    const result = await this.deps.options.store.transaction((repo) => provisionUser(repo, snapshot, connection, organization, pending.identity!, now));
    const orgName = organization.metadata.name;
    if (!result.ok) {
      await this.deps.refuse(ctx, snapshot, 403, branding, 'Sign-in refused', result.message, { reason: result.reason, organization: orgName, connection: connection.metadata.name, client: pending.clientId, ...(result.email ? { email: result.email } : {}), subject: null });
      return;
    }
    const { user } = result;
    if (result.created) await this.deps.audit(snapshot, 'user.provisioned', { organization: orgName, subject: user.id, actor: `idp:${connection.metadata.name}`, data: { connection: connection.metadata.name, email: user.email, roles: user.roles } });
    await this.deps.audit(snapshot, 'login.succeeded', {
      organization: orgName,
      client: pending.clientId,
      subject: user.id,
      data: { connection: connection.metadata.name, type: connection.spec.type, amr: pending.login!.amr, signals: signalsOf(ctx.req, this.deps.options.trustedProxies, this.deps.device(ctx, snapshot)) },
    });
    await this.deps.complete(ctx, issuer, uid, user, { amr: pending.login!.amr, acr: pending.login!.acr }, pending.clientId, details.params);
  }
}
