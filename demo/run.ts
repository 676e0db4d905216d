/**
 * `npm run demo`: Gatehouse on the BlixitPartners examples, Forge Supplies' OpenID Connect IdP,
 * Pinnacle Logistics' SAML IdP and a tiny relying-party app, all on loopback. Prints one URL.
 * DEMO_PORT_BASE moves it off 7000–7002/3000 (see demo/ports.ts); 0 picks free ports.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import * as oidc from 'openid-client';
import { sortForApply } from '../api/index.ts';
import { readManifests } from '../controller/sources/manifest-files.ts';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { listen } from '../server/http/listen.ts';
import { silentLogger } from '../server/log.ts';
import { Sealer } from '../server/secrets/sealer.ts';
import { openStore } from '../server/store/index.ts';
import { startOidcPeer } from './peers/oidc-idp.ts';
import { startSamlPeer } from './peers/saml-idp.ts';
import { busyPortAdvice, demoPorts, movedOrigins, relocate } from './ports.ts';
import { demoPage } from './peers/style.ts';
import { createPasswordLink } from '../server/users/links.ts';

const NS = 'blixit-partners';
const esc = (v: unknown) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
let ports: ReturnType<typeof demoPorts>;
try {
  ports = demoPorts(process.env);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
}
// A taken port is said plainly, with a DEMO_PORT_BASE that is free, before anything starts.
const busy = await busyPortAdvice(ports, process.env);
if (busy) {
  process.stderr.write(busy);
  process.exit(1);
}

const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-demo-'));
const store = await openStore({ dataDir });
// Bound first, so every peer knows where Gatehouse is, even on a port the system picked.
let GATEHOUSE = `http://127.0.0.1:${ports.gatehouse}`;
const gatehouse = createApp({
  store,
  clock: systemClock,
  get publicUrl() {
    return GATEHOUSE;
  },
  logger: silentLogger,
  sealer: new Sealer(randomBytes(48).toString('base64url')),
  federationSetup: { allowLoopbackHttp: true },
  // No mail server in the demo: each message (an invitation, a "Forgot password?" link) is printed below the banner.
  notifications: { onHeld: (line) => process.stdout.write(`  [mail] ${line}\n`) },
});
const gh = await listen(gatehouse.callback, { host: '127.0.0.1', port: ports.gatehouse });
GATEHOUSE = gh.url;
gatehouse.sweeper.start();

// The relying party: Blixit's partner portal, a workspace-level (shared) application. It
// listens now (its callback URL goes into the declarations) and discovers its issuer below.
let config: oidc.Configuration | undefined;
let APP = '';
const pending = new Map<string, string>();
/** ID tokens of signed-in browsers, by a random key in the sign-out link: the hint RP-initiated logout wants. */
const signedIn = new Map<string, string>();
const page = (heading: string, body: string) => demoPage('Blixit partner portal (demo app)', '#24292f', `<h1>${esc(heading)}</h1>${body}`);
const app = new Koa();
app.use(async (ctx) => {
  if (!config) {
    ctx.status = 503;
    ctx.body = 'starting';
    return;
  }
  ctx.type = 'html';
  if (ctx.path === '/') {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    pending.set(state, verifier);
    ctx.redirect(oidc.buildAuthorizationUrl(config, { redirect_uri: `${APP}/callback`, scope: 'openid email profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state }).href);
    return;
  }
  if (ctx.path === '/sign-out') {
    const idToken = signedIn.get(String(ctx.query.s ?? ''));
    signedIn.delete(String(ctx.query.s ?? ''));
    ctx.redirect(oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: `${APP}/signed-out`, ...(idToken ? { id_token_hint: idToken } : {}) }).href);
    return;
  }
  if (ctx.path === '/signed-out') {
    ctx.body = page('Signed out', '<p>You are signed out of Gatehouse and of this app.</p><p><a class="button" href="/">Sign in again</a></p>');
    return;
  }
  if (ctx.path !== '/callback') return;
  const state = String(ctx.query.state ?? '');
  const verifier = pending.get(state);
  pending.delete(state);
  if (!verifier) {
    ctx.body = page('Unknown sign-in', '<p>This sign-in was not started here, or was already used.</p><p><a class="button" href="/">Start again</a></p>');
    return;
  }
  try {
    const tokens = await oidc.authorizationCodeGrant(config, new URL(ctx.href.replace(/^https?:\/\/[^/]+/, APP)), { pkceCodeVerifier: verifier, expectedState: state });
    const claims: Record<string, unknown> = { ...(tokens.claims() ?? {}) };
    const key = randomBytes(16).toString('base64url');
    if (tokens.id_token) signedIn.set(key, tokens.id_token);
    ctx.body = page('Signed in to the Blixit partner portal', `<p>${esc(claims.name ?? claims.email)} of <strong>${esc(claims.organization_id)}</strong></p><h2>ID token claims</h2><pre>${esc(JSON.stringify(claims, null, 2))}</pre><p><a class="button" id="sign-out" href="/sign-out?s=${key}">Sign out</a></p>`);
  } catch (error) {
    ctx.status = 400;
    ctx.body = page('Sign-in failed', `<p class="error">${esc(error instanceof Error ? error.message : error)}</p><p><a class="button" href="/">Start again</a></p>`);
  }
});
const rp = await listen(app, { host: '127.0.0.1', port: ports.app });
APP = rp.url;

// Forge Supplies' IdP: the upstream client secret goes into Gatehouse's write-only secret store.
const upstreamSecret = randomBytes(24).toString('base64url');
const forge = await startOidcPeer({
  port: ports.forge,
  clientId: 'gatehouse',
  clientSecret: upstreamSecret,
  redirectUris: [`${GATEHOUSE}/${NS}/forge-supplies/broker/forge-oidc/callback`],
  users: [{ sub: 'forge-0042', email: 'dana@forge-supplies.example', password: 'demo', name: 'Dana Smith', department: 'procurement' }],
  title: 'Forge Supplies SSO',
});
// Cascade's own IdP, not connected yet: what its administrator connects in the portal's Sign-in setup.
const cascadeSecret = randomBytes(18).toString('base64url');
const cascadeIdp = await startOidcPeer({
  clientId: 'gatehouse-cascade',
  clientSecret: cascadeSecret,
  redirectUris: [`${GATEHOUSE}/${NS}/cascade-consulting/broker/cascade-sso/callback`],
  users: [{ sub: 'cascade-0007', email: 'ana@cascade-consulting.example', password: 'demo', name: 'Ana Ruiz', department: 'delivery' }],
  title: 'Cascade Consulting SSO',
});
const pinnacle = await startSamlPeer({ port: ports.pinnacle, users: [{ email: 'sam@pinnacle-logistics.example', password: 'demo', name: 'Sam Okafor' }], title: 'Pinnacle Logistics ADFS' });

// The examples, pointed at where the peers and the portal really listen.
const manifests = await readManifests(new URL('../examples/blixit-partners', import.meta.url).pathname);
if (manifests.errors.length) throw new Error(`the examples did not parse: ${manifests.errors.map((e) => e.message).join('; ')}`);
const moved = movedOrigins({ forge: forge.url, pinnacle: pinnacle.url, app: APP });
for (const { object, file } of sortForApply(manifests.objects)) {
  const placed = relocate(object, moved);
  // The demo app also returns to a "signed out" page after RP-initiated logout.
  if (placed.kind === 'Client' && placed.metadata.name === 'partner-portal') placed.spec.postLogoutRedirectUris = [...(placed.spec.postLogoutRedirectUris ?? []), `${APP}/signed-out`];
  await gatehouse.objects.apply(placed, { actor: 'demo', provenance: { source: 'directory', file } });
}
// Cascade's partner portal: its admin-console client (demo only; a workspace declares its own).
// Its signed-out page is a post-logout URI so signing out of the portal ends the issuer's session too.
const cascadePortal = `${GATEHOUSE}/${NS}/cascade-consulting/portal`;
await gatehouse.objects.apply(
  {
    apiVersion: 'gatehouse.dev/v1alpha1',
    kind: 'Client',
    metadata: { name: 'cascade-portal', namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } },
    spec: { organizationRef: { name: 'cascade-consulting' }, type: 'web', displayName: 'Cascade partner portal', redirectUris: [`${cascadePortal}/callback`], postLogoutRedirectUris: [`${cascadePortal}/signed-out`], scopes: ['openid', 'email'] },
  },
  { actor: 'demo', provenance: { source: 'demo' } },
);
await gatehouse.clientSecrets.rotate(NS, 'cascade-portal', { actor: 'demo' });
// Ana of Cascade signs in with a password (Cascade has no IdP): the demo makes her one-time link.
const anaLink = await createPasswordLink({ store, clock: systemClock, publicUrl: GATEHOUSE }, NS, 'ana-cascade', { actor: 'demo' });
await gatehouse.upstreamSecrets.put(NS, 'forge-oidc', { data: { 'client-secret': upstreamSecret } }, { actor: 'demo' });

const { clientId, clientSecret } = await gatehouse.clientSecrets.rotate(NS, 'partner-portal', { actor: 'demo' });
config = await oidc.discovery(new URL(`${GATEHOUSE}/${NS}`), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });

process.stdout.write(`Gatehouse demo is running (Gatehouse ${gh.url}, Forge IdP ${forge.url}, Pinnacle IdP ${pinnacle.url}).
Sign in as dana@forge-supplies.example (OIDC) or sam@pinnacle-logistics.example (SAML), password "demo":

  ${APP}/

How each partner signs in there:
  Forge Supplies      dana@forge-supplies.example    at Forge's own OIDC IdP, password "demo"
  Pinnacle Logistics  sam@pinnacle-logistics.example at Pinnacle's own SAML IdP, password "demo"
  Cascade Consulting  ana@cascade-consulting.example with a password (Cascade's directory):
                      set it first at ${anaLink.url}
                      (one-time link, valid until ${anaLink.expiresAt})
The app's "Sign out" ends the Gatehouse session too.

Partner portal (Cascade's administrator Ana; two-step verification is enrolled at first sign-in):
  ${cascadePortal}/
  "Sign-in setup" there connects Cascade's own IdP: OpenID Connect, connection name
  cascade-sso, issuer ${cascadeIdp.url}, client ID gatehouse-cascade,
  client secret ${cascadeSecret}; "Test sign-in" as ana@cascade-consulting.example,
  password "demo", then "Enable".

Messages Gatehouse sends (invitations, "Forgot password?" links, …) are printed here as [mail] lines:
no mail server is configured (GATEHOUSE_SMTP_URL sends them by email; docs/notifications.md).

Ctrl-C stops everything.
`);
gatehouse.notifications.start(1000);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await gatehouse.sweeper.stop();
  await gatehouse.notifications.stop();
  await Promise.allSettled([rp.close(), forge.close(), cascadeIdp.close(), pinnacle.close(), gh.close()]);
  await gatehouse.audit.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
