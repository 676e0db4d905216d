import type { BlockList } from 'node:net';
import type { Context } from 'koa';
import { z } from 'zod';
import { organizationChain } from '../../api/index.ts';
import { fingerprint, type RefusalAudit } from '../audit/refusals.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import { admits, admitsCountry, clientAddress } from '../oidc/admission.ts';
import type { GeoLocator } from '../risk/geo.ts';
import { canonicalPath, matchApi, type ApiMatch } from '../oidc/api-access.ts';
import { standingOf } from '../oidc/standing.ts';
import { present, type Presented } from '../oidc/token-exchange.ts';
import type { Issuer } from './issuer.ts';

/**
 * Why a request was denied: `no-token`, `invalid-token` (not this issuer's, expired, revoked,
 * its client gone), the organization's standing (`suspended`, `contract-ended`, …),
 * `network` (from outside the organization's networks or countries), `path-not-canonical`, and
 * `no-matching-scope` (no scope the token holds has an `api` entry for the method and path).
 */
export type DenyReason = 'no-token' | 'invalid-token' | 'network' | 'path-not-canonical' | 'no-matching-scope' | 'no-organization' | 'suspended' | 'contract-ended' | 'contract-not-started' | 'parent-inactive' | 'certification-overdue';

export type Decision = ({ allow: true; organization: string; sub: string; client_id: string } & ApiMatch) | { allow: false; reason: DenyReason; detail: string };

export interface AuthorizeOptions {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  trustedProxies?: BlockList | undefined;
  /** Where denials without a token of ours (none, or not valid here) are audited, rate-limited per source. */
  refusals?: RefusalAudit | undefined;
  /** Places addresses in countries, for the organization's `network.allowedCountries` / `deniedCountries`. */
  geo?: GeoLocator | undefined;
}

/** The POST /authorize body; the token may come in the Authorization header instead. */
const AuthorizeRequest = z.strictObject({
  token: z.string().min(1).max(8192).optional(),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
  path: z.string().min(1).max(4096),
});

const BODY_LIMIT = 16 * 1024;
/** One `api.allowed` record per token, method and path in this window; every denial is recorded. */
const ALLOW_SAMPLE_MS = 60_000;
const MAX_SAMPLES = 50_000;

/**
 * The authorization decision endpoint of an issuer, for API gateways and resource servers:
 * `POST {issuer}/authorize` (JSON: `token` or an Authorization header, `method`, `path`) and
 * Envoy's ext_authz HTTP service (`{issuer}/ext-authz/*`: the method and path are the
 * forwarded request's, the bearer its Authorization header). Allowed when the token is an
 * access token of this issuer that is still valid (as introspection finds it), its
 * organization stands (contract, kill switch), the request comes from the organization's
 * networks (the address as every gate reads it: X-Forwarded-For past TRUSTED_PROXIES), and
 * a scope the token holds has an `api` entry of an AccessPolicy matching method and path
 * (server/oidc/api-access.ts). The caller is not authenticated: the token is the credential,
 * and the answer says nothing about it its holder could not read in it.
 */
export class ApiAuthorizer {
  private readonly options: AuthorizeOptions;
  /** `jti method path` → when its allow was last recorded. */
  private readonly sampled = new Map<string, number>();

  constructor(options: AuthorizeOptions) {
    this.options = options;
  }

  /** Answers `rest` when it is one of the endpoints; false otherwise. */
  async handle(ctx: Context, issuer: Issuer, rest: string): Promise<boolean> {
    ctx.set('Cache-Control', 'no-store');
    if (rest === '/authorize') {
      if (ctx.method !== 'POST') {
        ctx.status = 405;
        ctx.set('Allow', 'POST');
        problem(ctx, 405, 'Method not allowed', 'POST a JSON body {"method", "path"} with the token in the Authorization header (or as "token")');
        return true;
      }
      const parsed = AuthorizeRequest.safeParse(await readJson(ctx));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        problem(ctx, 400, 'Bad request', `${issue.path.join('.') || 'body'}: ${issue.message}`);
        return true;
      }
      const { token, method, path } = parsed.data;
      const decision = await this.decide(ctx, issuer, token ?? bearerOf(ctx), method, path);
      ctx.status = 200;
      ctx.body = decision;
      return true;
    }
    if (rest === '/ext-authz' || rest.startsWith('/ext-authz/')) {
      // Envoy appends the original request's path to the prefix; `rest` is still percent-encoded, as sent.
      const forwarded = rest.slice('/ext-authz'.length) || '/';
      const decision = await this.decide(ctx, issuer, bearerOf(ctx), ctx.method, forwarded);
      if (decision.allow) {
        ctx.status = 200;
        ctx.set({ 'x-gatehouse-policy': decision.policy, 'x-gatehouse-scope': decision.scope, 'x-gatehouse-subject': decision.sub, 'x-gatehouse-client': decision.client_id, 'x-gatehouse-organization': decision.organization });
        ctx.body = '';
      } else {
        const token = decision.reason === 'no-token' || decision.reason === 'invalid-token';
        ctx.status = token ? 401 : 403;
        if (token) ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${decision.detail}"`);
        ctx.set('x-gatehouse-reason', decision.reason);
        ctx.body = { error: token ? 'invalid_token' : 'access_denied', reason: decision.reason, error_description: decision.detail };
      }
      return true;
    }
    return false;
  }

  /** The decision for one request, audited. */
  async decide(ctx: Context, issuer: Issuer, token: string | undefined, method: string, rawPath: string): Promise<Decision> {
    const { snapshot } = issuer;
    const address = clientAddress(ctx.req, this.options.trustedProxies);
    const refused = async (reason: 'no-token' | 'invalid-token', detail: string): Promise<Decision> => {
      await this.options.refusals?.record('token', address, {
        actor: 'anonymous',
        namespace: snapshot.namespace,
        organization: snapshot.organization ?? null,
        data: { method, path: rawPath.slice(0, 512), reason, endpoint: 'authorize', ...(token ? { fingerprint: fingerprint(token) } : {}) },
      });
      return { allow: false, reason, detail };
    };
    if (!token) return refused('no-token', 'no bearer token was presented');
    const presented = await present({ store: this.options.store, clock: this.options.clock, ring: issuer.ring, issuer: issuer.url, path: snapshot.path, provider: issuer.provider }, token);
    const client = presented && snapshot.clients.find((c) => c.clientId === presented.clientId);
    if (!presented || !client) return refused('invalid-token', `the token is not a valid access token of ${issuer.url}`);

    const organization = snapshot.organization ?? (presented.sub === presented.clientId ? undefined : (await this.options.store.users.find(snapshot.namespace, presented.sub))?.organization);
    const deny = async (reason: DenyReason, detail: string, data: Record<string, unknown> = {}): Promise<Decision> => {
      await this.options.audit.append({ action: 'api.denied', actor: presented.sub, namespace: snapshot.namespace, organization: organization ?? null, client: presented.clientId, subject: presented.sub, outcome: 'refused', data: { method, path: rawPath.slice(0, 512), reason, address, ...data } });
      return { allow: false, reason, detail };
    };
    if (!organization) return deny('no-organization', 'the token has no organization whose policies could open an API');
    const chain = snapshot.organization ? snapshot.chain : organizationChain(snapshot.organizations, organization);
    const standing = standingOf(chain, this.options.clock.now(), snapshot.workspace?.spec.lifecycle);
    if (!standing.active) return deny(standing.reason, standing.detail);
    if (snapshot.organization) {
      if (!admits(issuer.admission.networks, address)) return deny('network', `requests from ${address} are outside the networks of organization ${organization}`);
      const { countries } = issuer.admission;
      const country = countries ? this.options.geo?.country(address) : undefined;
      if (!admitsCountry(countries, country)) return deny('network', `requests from ${address} (${country ?? 'no known country'}) are outside the countries of organization ${organization}`, { country: country ?? null });
    } else {
      const refusal = await issuer.admitUser(organization, ctx.req, rawPath);
      if (refusal) return deny('network', refusal.detail);
    }
    const canonical = canonicalPath(rawPath);
    if (!canonical.ok) return deny('path-not-canonical', canonical.detail);
    const match = matchApi(snapshot.policies, organization, client.object, presented.scopes, method, canonical.path);
    if (!match) return deny('no-matching-scope', `no scope of the token (${[...presented.scopes].join(' ') || 'none'}) opens ${method} ${canonical.path}`, { scope: [...presented.scopes].join(' ') });
    await this.recordAllow(presented, snapshot.namespace, organization, method, canonical.path, match, address);
    return { allow: true, organization, sub: presented.sub, client_id: presented.clientId, ...match };
  }

  /** The first allow of a token for a method and path in each window is recorded; the rest would only repeat it. */
  private async recordAllow(presented: Presented, namespace: string, organization: string, method: string, path: string, match: ApiMatch, address: string): Promise<void> {
    const key = `${presented.jti} ${method} ${path}`;
    const now = this.options.clock.now();
    const last = this.sampled.get(key);
    if (last !== undefined && now - last < ALLOW_SAMPLE_MS) return;
    if (this.sampled.size >= MAX_SAMPLES) this.sampled.clear();
    this.sampled.set(key, now);
    await this.options.audit.append({ action: 'api.allowed', actor: presented.sub, namespace, organization, client: presented.clientId, subject: presented.sub, data: { method, path, ...match, address } });
  }
}

function bearerOf(ctx: Context): string | undefined {
  return /^Bearer ([\x21-\x7E]+)$/i.exec(ctx.get('authorization'))?.[1];
}

function problem(ctx: Context, status: number, title: string, detail: string): void {
  ctx.status = status;
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify({ type: 'about:blank', title, status, detail });
}

/** A small JSON body; undefined when it is not one (answered as a bad request by the schema). */
async function readJson(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}
