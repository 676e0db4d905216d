import { generateKeyPairSync } from 'node:crypto';
import Koa from 'koa';
import mount from 'koa-mount';
import { Provider, type Adapter, type AdapterFactory, type AdapterPayload, type Configuration, type JWK } from 'oidc-provider';
import { listen, type RunningServer } from '../../server/http/listen.ts';
import { demoPage } from './style.ts';

/** A person at the partner, as its own IdP knows them. */
export interface PeerUser {
  sub: string;
  email: string;
  password: string;
  name: string;
  department?: string;
}

export interface OidcPeer {
  url: string;
  /** The IdP's signing key, so tests can forge tokens "from" it. */
  privateJwk: JWK;
  /** Rewrites the next ID tokens the token endpoint returns (negative tests); undefined restores honesty. */
  tamper: ((idToken: string) => Promise<string>) | undefined;
  close(): Promise<void>;
}

/**
 * The peer keeps its state in memory on purpose: a demo partner, gone when it stops. Saying so
 * with an adapter of our own keeps oidc-provider's warning about its development-only one out
 * of the demo's and the specs' output.
 */
function memoryAdapter(): AdapterFactory {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const byGrant = new Map<string, Set<string>>();
  const index = new Map<string, string>();
  return (name: string): Adapter => {
    const live = (key: string | undefined) => {
      const entry = key === undefined ? undefined : entries.get(key);
      if (entry && entry.expiresAt <= Date.now()) entries.delete(key!);
      return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
    };
    return {
      async upsert(id, payload, expiresIn) {
        const key = `${name}:${id}`;
        entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
        if (payload.grantId) byGrant.set(payload.grantId, (byGrant.get(payload.grantId) ?? new Set()).add(key));
        if (payload.uid) index.set(`${name}:uid:${payload.uid}`, key);
        if (payload.userCode) index.set(`${name}:userCode:${payload.userCode}`, key);
      },
      find: async (id) => live(`${name}:${id}`),
      findByUid: async (uid) => live(index.get(`${name}:uid:${uid}`)),
      findByUserCode: async (userCode) => live(index.get(`${name}:userCode:${userCode}`)),
      async consume(id) {
        const payload = live(`${name}:${id}`);
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        entries.delete(`${name}:${id}`);
      },
      async revokeByGrantId(grantId) {
        for (const key of byGrant.get(grantId) ?? []) entries.delete(key);
        byGrant.delete(grantId);
      },
    };
  };
}

const esc = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A partner's OpenID Connect IdP (Forge Supplies in the demo): a real oidc-provider with
 * one confidential client and a plain sign-in form. Used by the tests and by `npm run demo`.
 */
export async function startOidcPeer(options: { port?: number; clientId: string; clientSecret: string; redirectUris: string[]; users: PeerUser[]; title?: string }): Promise<OidcPeer> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateJwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: 'peer-1', alg: 'RS256', use: 'sig' };
  const app = new Koa();
  // Mounted under Koa, oidc-provider signs its cookies with the outer app's keys (#341).
  app.keys = ['peer-cookie-key-0123456789abcdef'];
  let running: RunningServer | undefined;
  const peer: OidcPeer = { url: '', privateJwk, tamper: undefined, close: async () => running?.close() };
  const byEmail = new Map(options.users.map((u) => [u.email, u]));
  const bySub = new Map(options.users.map((u) => [u.sub, u]));
  const title = options.title ?? 'Partner IdP';

  // app.callback() composes the middleware when the server starts: register it all first, bind the provider after.
  let provider: Provider | undefined;
  app.use(async (ctx, next) => {
    await next();
    const body = ctx.body as { id_token?: string } | undefined;
    if (ctx.path === '/token' && peer.tamper && body?.id_token) body.id_token = await peer.tamper(body.id_token);
  });
  app.use(async (ctx, next) => {
    const m = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
    if (!m || !provider) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const page = (error = '') => {
      ctx.type = 'html';
      ctx.body = demoPage(
        esc(title),
        '#b42318',
        `<h1>Sign in</h1>${error ? `<p class="error">${esc(error)}</p>` : ''}<form method="post" action="/interaction/${details.uid}"><label>Email <input name="email" value="${esc(String(details.params.login_hint ?? ''))}"></label><label>Password <input name="password" type="password"></label><button>Sign in</button></form><p class="muted">A partner's own identity provider (demo).</p>`,
      );
    };
    if (ctx.method !== 'POST') return page();
    const chunks: Buffer[] = [];
    for await (const c of ctx.req as AsyncIterable<Buffer>) chunks.push(c);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const user = byEmail.get(form.get('email') ?? '');
    if (!user || user.password !== form.get('password')) return page('Wrong email or password.');
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  });
  app.use((ctx, next) => (mounted ? mounted(ctx, next) : next()));
  let mounted: Koa.Middleware | undefined;

  running = await listen(app, { host: '127.0.0.1', port: options.port ?? 0 });
  peer.url = running.url;
  const configuration: Configuration = {
    clients: [{ client_id: options.clientId, client_secret: options.clientSecret, redirect_uris: options.redirectUris, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    adapter: memoryAdapter(),
    // oidc-provider's own defaults, stated: left unset, each use prints a notice.
    ttl: { AccessToken: 3600, IdToken: 3600, Interaction: 3600, Session: 14 * 24 * 3600, Grant: 14 * 24 * 3600 },
    jwks: { keys: [privateJwk] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'department'] },
    cookies: { keys: app.keys },
    async findAccount(_ctx, sub) {
      const user = bySub.get(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: user.email, email_verified: true, name: user.name, ...(user.department ? { department: user.department } : {}) }) };
    },
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      if (!oidc.client || !oidc.session?.accountId) return undefined;
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  };
  provider = new Provider(running.url, configuration);
  mounted = mount(provider);
  return peer;
}
