import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import type { EffectiveSettings } from '../../api/effective.ts';
import type { IssuerSnapshot, SnapshotClient } from '../oidc/snapshot.ts';
import { DECISION_ACTIONS, type RiskEngine } from '../risk/engine.ts';
import { signalsOf } from '../risk/signals.ts';
import type { Answered, GateOptions } from './gates.ts';
import { displayName, type Issuer } from './issuer.ts';

/** Each snapshot's client_id → Client, made once. */
const clientsById = new WeakMap<IssuerSnapshot, Map<string, SnapshotClient>>();
function clientOf(snapshot: IssuerSnapshot, clientId: string): SnapshotClient | undefined {
  let clients = clientsById.get(snapshot);
  if (!clients) clientsById.set(snapshot, (clients = new Map(snapshot.clients.map((c) => [c.clientId, c]))));
  return clients.get(clientId);
}
const clientName = (snapshot: IssuerSnapshot, clientId: string) => clientOf(snapshot, clientId)?.object.metadata.name;

/** The client_id of an HTTP Basic client authentication (RFC 6749 §2.3.1: form-encoded), without verifying anything. */
function basicClientId(header: string | undefined): string | undefined {
  if (!header || header.length < 7 || header.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * The issuer's `risk` gates (server/risk/engine.ts): before the token endpoint, a client the
 * risk engine suspended is refused; after it, the engine's verdict on the grant answered.
 */
export class RiskGates {
  private readonly options: GateOptions;
  /** Shared-issuer grants refused by a user's organization's policy: the token audit names that organization. */
  private readonly refusedFor = new WeakMap<IncomingMessage, string>();

  constructor(options: GateOptions) {
    this.options = options;
  }

  /** Confidential clients authenticate with Basic (m2m clients must): the client is known before the provider runs. */
  suspendedBasic(ctx: Context, issuer: Issuer, risk: RiskEngine): boolean | Promise<boolean> {
    if (!risk.anySuspended()) return false;
    const clientId = basicClientId(ctx.req.headers.authorization);
    return clientId !== undefined && this.refuseSuspended(ctx, issuer, clientId);
  }

  /** A client the risk engine suspended: 400 unauthorized_client, audited as a refused token. */
  private refuseSuspended(ctx: Context, issuer: Issuer, clientId: string): boolean | Promise<boolean> {
    const { snapshot } = issuer;
    const name = clientName(snapshot, clientId);
    const suspension = name === undefined ? undefined : this.options.risk!.suspension(snapshot.namespace, name);
    if (!suspension) return false;
    const until = suspension.until === null ? 'until an administrator lifts it' : `until ${new Date(suspension.until).toISOString()}`;
    return this.options.audit
      .append({ action: 'token.refused', actor: clientId, namespace: snapshot.namespace, organization: snapshot.organization ?? null, client: clientId, outcome: 'refused', data: { grant: '', error: 'unauthorized_client', reason: 'client-suspended', signals: signalsOf(ctx.req, this.options.trustedProxies) } })
      .then(() => {
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'unauthorized_client', error_description: `client ${name} is suspended by the risk policy of ${displayName(snapshot)} ${until}` };
        return true;
      });
  }

  /** The organization whose policy refused this request's grant at the shared issuer, if one did. */
  sharedRefusal(req: IncomingMessage): string | undefined {
    return this.refusedFor.get(req);
  }

  /**
   * The risk engine's verdict on a grant the provider answered: a suspended public client
   * (unknown before the provider read the body) and a denied grant get an error instead of
   * their tokens; a client over `suspendClient` is paused. Only decisions where a rule fired
   * are audited (a token of no concern adds no record). At a namespace's shared issuer, a
   * user's grant is judged by the user's organization's policy (`sharedGrant`).
   */
  assessGrant(ctx: Context, issuer: Issuer, oidc: Answered): boolean | Promise<boolean> {
    const { risk } = this.options;
    const { snapshot } = issuer;
    if (!risk || ctx.status !== 200 || !oidc.client) return false;
    const grant = String(oidc.params?.grant_type ?? '');
    if (!snapshot.organization) return sharedScored(snapshot) ? this.sharedGrant(ctx, issuer, oidc, oidc.client.clientId, grant, risk) : false;
    if (!snapshot.effective.risk) return false;
    return this.judgeGrant(ctx, issuer, oidc.client.clientId, grant, risk, { organization: snapshot.organization, settings: snapshot.effective, name: displayName(snapshot) });
  }

  /**
   * A grant at the shared issuer: one with a user (a code, a refresh, the exchange of a user's
   * token) is judged by that user's organization's effective policy, its client state kept
   * apart per organization; a machine's (no user, no organization) is not scored.
   */
  private async sharedGrant(ctx: Context, issuer: Issuer, oidc: Answered, clientId: string, grant: string, risk: RiskEngine): Promise<boolean> {
    const { snapshot } = issuer;
    const entities = oidc.entities as { Account?: { accountId: string }; AccessToken?: { accountId?: string } };
    const subject = entities.Account?.accountId ?? entities.AccessToken?.accountId;
    if (!subject) return false;
    const user = await this.options.store.users.find(snapshot.namespace, subject);
    const settings = user ? snapshot.settingsOf(user.organization) : undefined;
    if (!user || !settings?.risk) return false;
    const name = snapshot.organizations.get(user.organization)?.spec.displayName ?? user.organization;
    return this.judgeGrant(ctx, issuer, clientId, grant, risk, { organization: user.organization, settings, name, shared: true });
  }

  private async judgeGrant(ctx: Context, issuer: Issuer, clientId: string, grant: string, risk: RiskEngine, policy: Policy): Promise<boolean> {
    const { snapshot } = issuer;
    const client = clientOf(snapshot, clientId);
    const { organization, settings, shared } = policy;
    if (client === undefined) return false;
    const name = client.object.metadata.name;
    // Refused and audited as such: nothing after it runs.
    if (risk.anySuspended() && (await this.refuseSuspended(ctx, issuer, clientId))) return true;
    const signals = signalsOf(ctx.req, this.options.trustedProxies);
    const decision = await risk.grant({ namespace: snapshot.namespace, organization, settings, client: name, incarnation: client.uid, grant, ip: signals.ip, ...(shared ? { tenant: organization } : {}) });
    if (!decision || decision.score === 0) return false;
    // A workspace client serves every organization's users: one organization's policy denies its own user's grant, never pauses the client for all.
    const action = shared && decision.action === 'suspendClient' ? 'deny' : decision.action;
    const refused = action === 'deny' || action === 'suspendClient';
    await this.options.audit.append({
      action: DECISION_ACTIONS[action],
      actor: clientId,
      namespace: snapshot.namespace,
      organization,
      client: clientId,
      ...(refused ? { outcome: 'refused' } : {}),
      data: { stage: 'token', grant, score: decision.score, action, rules: decision.fired, signals, ...(shared ? { issuer: snapshot.path } : {}) },
    });
    if (!refused) return false;
    if (shared) this.refusedFor.set(ctx.req, organization);
    if (action === 'suspendClient') await risk.suspend(snapshot.namespace, organization, name, decision, settings.risk?.suspendFor?.value);
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = action === 'suspendClient' ? { error: 'unauthorized_client', error_description: `client ${name} is suspended by the risk policy of ${policy.name}` } : { error: 'invalid_grant', error_description: `refused by the risk policy of ${policy.name}` };
    // audit-token records the refusal that the client sees.
    return false;
  }
}

/** Whose policy judges a grant: the issuer's organization, or (shared) the signed-in user's. */
interface Policy {
  organization: string;
  settings: EffectiveSettings;
  /** The organization's display name, for the error the client reads. */
  name: string;
  /** At the namespace's shared issuer. */
  shared?: boolean;
}

/** Per snapshot, whether any organization declares a grant rule: the shared issuer reads no user otherwise. */
const scoredShared = new WeakMap<IssuerSnapshot, boolean>();
function sharedScored(snapshot: IssuerSnapshot): boolean {
  let scored = scoredShared.get(snapshot);
  if (scored === undefined) {
    scored = [...snapshot.organizations.keys()].some((organization) => {
      const rules = snapshot.settingsOf(organization)?.risk?.rules;
      return rules?.newClientAddress !== undefined || rules?.clientBurst !== undefined;
    });
    scoredShared.set(snapshot, scored);
  }
  return scored;
}
