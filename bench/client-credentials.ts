// npm run bench:client-credentials — one client_credentials token, answered in-process (no
// sockets) two ways from the same issuer snapshot and key ring: oidc-provider as buildProvider
// configures it (provider.callback() on a request object and a ServerResponse), and Gatehouse's
// own grant (ClientCredentialsGrant.answer on the same headers and body). 32 requests in flight,
// as under the token benchmark's load; rounds alternate ABBA. Prints wall µs per token, the
// event loop's CPU µs per token (process.threadCpuUsage: what limits throughput) and the ratios,
// then the heap each issuer keeps alive to answer them (BENCH_ISSUERS of each built).
import { mkdtempSync, rmSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { silentLogger } from '../server/log.ts';
import { ClientCredentialsGrant, isClientCredentials, type TokenRequest } from '../server/oidc/client-credentials.ts';
import { buildProvider } from '../server/oidc/provider.ts';
import { loadSnapshot } from '../server/oidc/snapshot.ts';
import { Sealer } from '../server/secrets/sealer.ts';
import { openStore } from '../server/store/index.ts';
import { median } from './harness.ts';

const N = Number(process.env.BENCH_TOKENS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const IN_FLIGHT = Number(process.env.BENCH_CONCURRENCY ?? 32);

const ns = 'bench';
const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const store = await openStore({ dataDir });
const gatehouse = createApp({ store, clock: systemClock, logger: silentLogger, sealer: new Sealer('bench-key-bench-key-bench-key-bench-key'), publicUrl: 'http://127.0.0.1' });
// As bench/servers/gatehouse.ts declares it: one organization, one m2m client, a policy and a claim mapping.
const actor = { actor: 'bench' };
const meta = (kind: string, name: string) => ({ apiVersion: 'gatehouse.dev/v1alpha1', kind, metadata: { name, namespace: ns } });
await gatehouse.objects.apply({ ...meta('Workspace', 'bench'), spec: { tokens: { accessToken: '15m' } } }, actor);
await gatehouse.objects.apply({ ...meta('Organization', 'forge'), spec: { displayName: 'Forge', contract: { id: 'B-1', partnerType: 'supplier', owner: 'o@b.example', endsAt: '2099-01-01T00:00:00Z' } } }, actor);
await gatehouse.objects.apply({ ...meta('Client', 'sync'), spec: { organizationRef: { name: 'forge' }, type: 'm2m', scopes: ['inventory:read'], audiences: ['https://inventory.example'] } }, actor);
await gatehouse.objects.apply({ ...meta('AccessPolicy', 'forge'), spec: { organizationRef: { name: 'forge' }, scopes: [{ scope: 'inventory:read', api: [{ path: '/inventory/*', methods: ['GET'] }] }] } }, actor);
await gatehouse.objects.apply({ ...meta('ClaimMapping', 'forge'), spec: { organizationRef: { name: 'forge' }, claims: [{ name: 'partner_type', from: 'contract.partnerType' }] } }, actor);
const { clientId, clientSecret } = await gatehouse.clientSecrets.rotate(ns, 'sync', actor);

const issuer = `http://127.0.0.1/${ns}/forge`;
const snapshot = (await loadSnapshot(store, gatehouse.clientSecrets, ns, 'forge'))!;
const ring = await gatehouse.keys.keyRing(ns, 'ES256');
const provider = buildProvider(snapshot, ring, { store, clock: systemClock, issuer, cookieKeys: ['k'], admitsUser: async () => undefined, onJwtIssued: async () => undefined });
const callback = provider.callback();
const grant = new ClientCredentialsGrant({ snapshot, ring, issuer, clock: systemClock });

const body = Buffer.from('grant_type=client_credentials&scope=inventory%3Aread');
const headers = {
  host: '127.0.0.1',
  'content-type': 'application/x-www-form-urlencoded',
  'content-length': String(body.length),
  authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
};

/** oidc-provider's answer to one request object; the status it ends with. */
function viaProvider(handle = callback): Promise<number> {
  const req = new IncomingMessage(new Socket());
  Object.assign(req, { method: 'POST', url: '/token', headers: { ...headers } });
  req.push(body);
  req.push(null);
  // Read to its end as the HTTP parser marks it: not an aborted request, whose destruction costs an error.
  req.complete = true;
  const res = new ServerResponse(req);
  return new Promise((resolve) => {
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      resolve(res.statusCode);
      return end(...args);
    }) as typeof res.end;
    void handle(req, res);
  });
}

/** Gatehouse's answer to the same headers and body, as the registry hands them over. */
async function viaGrant(answering = grant): Promise<number> {
  const request: TokenRequest = { headers: { ...headers }, body };
  if (!isClientCredentials(request)) return 0;
  const answer = await answering.answer(request);
  // What the registry then writes: the JSON body.
  if (answer) JSON.stringify(answer.body);
  return answer?.status ?? 0;
}

async function round(issue: () => Promise<number>): Promise<{ wall: number; loop: number }> {
  let left = N;
  let failed = 0;
  const cpu = process.threadCpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (left-- > 0) if ((await issue()) !== 200) failed++;
    }),
  );
  const wall = ((performance.now() - started) * 1000) / N;
  const used = process.threadCpuUsage(cpu);
  if (failed) throw new Error(`${failed} requests were not answered 200`);
  return { wall, loop: (used.user + used.system) / N };
}

const ways = { provider: () => viaProvider(), grant: () => viaGrant() };
console.log(`client_credentials in-process, ${N} tokens per round, ${IN_FLIGHT} in flight, ${ROUNDS} ABBA pairs, Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`);
for (const issue of Object.values(ways)) await round(issue); // warm up: JIT tiers, memos
const results = { provider: [] as { wall: number; loop: number }[], grant: [] as { wall: number; loop: number }[] };
const ratios = { wall: [] as number[], loop: [] as number[] };
console.log(`${'pair'.padEnd(5)} ${'oidc-provider wall/loop µs'.padStart(27)} ${'grant wall/loop µs'.padStart(19)} ${'speed-up wall/loop'.padStart(19)}`);
for (let pair = 0; pair < ROUNDS; pair++) {
  const order = pair % 2 === 0 ? (['provider', 'grant'] as const) : (['grant', 'provider'] as const);
  const got: Partial<Record<keyof typeof ways, { wall: number; loop: number }>> = {};
  for (const name of order) got[name] = await round(ways[name]);
  const p = got.provider!;
  const g = got.grant!;
  results.provider.push(p);
  results.grant.push(g);
  ratios.wall.push(p.wall / g.wall);
  ratios.loop.push(p.loop / g.loop);
  console.log(`${String(pair + 1).padEnd(5)} ${`${p.wall.toFixed(1)} / ${p.loop.toFixed(1)}`.padStart(27)} ${`${g.wall.toFixed(1)} / ${g.loop.toFixed(1)}`.padStart(19)} ${`${(p.wall / g.wall).toFixed(2)} / ${(p.loop / g.loop).toFixed(2)}`.padStart(19)}`);
}
const med = (xs: { wall: number; loop: number }[], k: 'wall' | 'loop') => median(xs.map((x) => x[k])).toFixed(1);
console.log(`median: oidc-provider ${med(results.provider, 'wall')} µs wall, ${med(results.provider, 'loop')} µs event loop per token; grant ${med(results.grant, 'wall')} µs wall, ${med(results.grant, 'loop')} µs event loop per token`);
console.log(`median speed-up (oidc-provider / grant): ${median(ratios.wall).toFixed(2)}× wall, ${median(ratios.loop).toFixed(2)}× event-loop CPU; load average ${loadavg()[0]!.toFixed(2)}`);
// What each issuer keeps alive to answer machine tokens: a provider, or a grant, built from the
// same snapshot and ring (shared, not counted) and warmed by one token each. Heap after a full GC.
const ISSUERS = Number(process.env.BENCH_ISSUERS ?? 500);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
async function heapPerIssuer(build: () => () => Promise<number>): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: unknown[] = [];
  for (let i = 0; i < ISSUERS; i++) {
    const issue = build();
    if ((await issue()) !== 200) throw new Error('a warm-up token was not answered 200');
    kept.push(issue);
  }
  gc();
  const used = process.memoryUsage().heapUsed - before;
  kept.length = 0;
  return used / ISSUERS / 1024;
}
const providerHeap = await heapPerIssuer(() => {
  const built = buildProvider(snapshot, ring, { store, clock: systemClock, issuer, cookieKeys: ['k'], admitsUser: async () => undefined, onJwtIssued: async () => undefined });
  const handle = built.callback();
  return () => viaProvider(handle);
});
const grantHeap = await heapPerIssuer(() => {
  const built = new ClientCredentialsGrant({ snapshot, ring, issuer, clock: systemClock });
  return () => viaGrant(built);
});
console.log(`heap per issuer (${ISSUERS} built, one token each): oidc-provider ${providerHeap.toFixed(1)} KiB, grant ${grantHeap.toFixed(1)} KiB (${(providerHeap / grantHeap).toFixed(0)}× less)`);
await gatehouse.audit.close();
await store.close();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
