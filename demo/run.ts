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
import { demoPorts, movedOrigins, relocate } from './ports.ts';

const NS = 'blixit-partners';
const esc = (v: unknown) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const ports = demoPorts(process.env);

const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-demo-'));
const store = await openStore({ dataDir });
// Bound first, so every peer knows where Gatehouse is, even on a port the system picked.
let GATEHOUSE = `http://127.0.0.1:${ports.gatehouse}`;
const gatehouse = createApp({ store, clock: systemClock, get publicUrl() { return GATEHOUSE; }, logger: silentLogger, sealer: new Sealer(randomBytes(48).toString('base64url')) });
const gh = await listen(gatehouse.callback, { host: '127.0.0.1', port: ports.gatehouse });
GATEHOUSE = gh.url;
gatehouse.sweeper.start();

// The relying party: Blixit's partner portal, a workspace-level (shared) application. It
// listens now (its callback URL goes into the declarations) and discovers its issuer below.
let config: oidc.Configuration | undefined;
let APP = '';
const pending = new Map<string, string>();
const app = new Koa();
app.use(async (ctx) => {
  if (!config) {
    ctx.status = 503;
    ctx.body = 'starting';
    return;
  }
  if (ctx.path === '/') {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    pending.set(state, verifier);
    ctx.redirect(oidc.buildAuthorizationUrl(config, { redirect_uri: `${APP}/callback`, scope: 'openid email profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state }).href);
    return;
  }
  if (ctx.path !== '/callback') return;
  const state = String(ctx.query.state ?? '');
  const verifier = pending.get(state);
  pending.delete(state);
  ctx.type = 'html';
  if (!verifier) {
    ctx.body = `<p>Unknown sign-in. <a href="/">Start again</a></p>`;
    return;
  }
  try {
    const tokens = await oidc.authorizationCodeGrant(config, new URL(ctx.href.replace(/^https?:\/\/[^/]+/, APP)), { pkceCodeVerifier: verifier, expectedState: state });
    const claims: Record<string, unknown> = { ...(tokens.claims() ?? {}) };
    ctx.body = `<!doctype html><title>Partner portal</title><h1>Signed in to the Blixit partner portal</h1><p>${esc(claims.name ?? claims.email)} of <strong>${esc(claims.organization_id)}</strong></p><h2>ID token claims</h2><pre>${esc(JSON.stringify(claims, null, 2))}</pre><p><a href="/">Sign in again</a></p>`;
  } catch (error) {
    ctx.status = 400;
    ctx.body = `<p>Sign-in failed: ${esc(error instanceof Error ? error.message : error)}. <a href="/">Start again</a></p>`;
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
const pinnacle = await startSamlPeer({ port: ports.pinnacle, users: [{ email: 'sam@pinnacle-logistics.example', password: 'demo', name: 'Sam Okafor' }], title: 'Pinnacle Logistics ADFS' });

// The examples, pointed at where the peers and the portal really listen.
const manifests = await readManifests(new URL('../examples/blixit-partners', import.meta.url).pathname);
if (manifests.errors.length) throw new Error(`the examples did not parse: ${manifests.errors.map((e) => e.message).join('; ')}`);
const moved = movedOrigins({ forge: forge.url, pinnacle: pinnacle.url, app: APP });
for (const { object, file } of sortForApply(manifests.objects)) await gatehouse.objects.apply(relocate(object, moved), { actor: 'demo', provenance: { source: 'directory', file } });
await gatehouse.upstreamSecrets.put(NS, 'forge-oidc', { data: { 'client-secret': upstreamSecret } }, { actor: 'demo' });

const { clientId, clientSecret } = await gatehouse.clientSecrets.rotate(NS, 'partner-portal', { actor: 'demo' });
config = await oidc.discovery(new URL(`${GATEHOUSE}/${NS}`), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });

process.stdout.write(`Gatehouse demo is running (Gatehouse ${gh.url}, Forge IdP ${forge.url}, Pinnacle IdP ${pinnacle.url}).
Sign in as dana@forge-supplies.example (OIDC) or sam@pinnacle-logistics.example (SAML), password "demo":

  ${APP}/

Ctrl-C stops everything.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await gatehouse.sweeper.stop();
  await Promise.allSettled([rp.close(), forge.close(), pinnacle.close(), gh.close()]);
  await gatehouse.audit.close();
  await store.close();
  await rm(dataDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
