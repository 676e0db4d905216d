/**
 * npm run bench:scale [-- --orgs N] [-- --quick]
 *
 * Issuers at many organizations. Two Gatehouse servers, each in its own process (SQLite store,
 * audit on): one with 10 organizations, one with N (default 10,000), each organization with an
 * m2m client, all declared through the admin API with parallel PUTs. Every organization of
 * both then serves a request (a sweep of discovery documents), and a realistic mix is driven
 * at both in ABBA rounds: sign-in discovery, JWKS and client_credentials, spread over all
 * organizations with Zipf-skewed popularity. Beside the mix, one prober keeps asking the
 * organization left untouched the longest (at N, the ones at the far end of the issuer cache).
 *
 * Prints the creation time, then one line per target:
 *   target <name> <op> <target>: <figure> (met|not met)
 * `--quick` runs it in seconds (500 organizations, short rounds) to try a change; `--cache N`
 * bounds the large server's issuer cache (to measure rebuilds), `--providers N` its live oidc-providers, `--change-every S` changes one
 * organization every S seconds during the rounds (each change moves the namespace's version);
 * `--postgres` gives each server a database of its own on a PostgreSQL cluster the bench starts.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { cpuSeconds, median, start, startBenchPostgres, threadCpuSeconds } from './harness.ts';

const { values } = parseArgs({
  options: {
    orgs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    zipf: { type: 'string', default: '1' },
    cache: { type: 'string' },
    providers: { type: 'string' },
    'change-every': { type: 'string', default: '0' },
    postgres: { type: 'boolean', default: false },
  },
});
const QUICK = values.quick;
const ORGS = Number(values.orgs ?? (QUICK ? 500 : 10_000));
const SMALL = 10;
const SECONDS = Number(values.seconds ?? (QUICK ? 2 : 5));
const ROUNDS = Number(values.rounds ?? (QUICK ? 2 : 6));
const CONCURRENCY = Number(values.concurrency);
const ZIPF = Number(values.zipf);
/** The issuer cache's bound at the large server (the server's default when unset). */
const CACHE = values.cache;
/** How many of the large server's issuers keep their oidc-provider live (the server's default when unset). */
const PROVIDERS = values.providers;
/** Seconds between configuration changes (one organization's displayName) during the rounds; 0: none. */
const CHANGE_EVERY = Number(values['change-every']);
const PUT_CONCURRENCY = 16;
const NS = 'scale';
const MiB = 1024 * 1024;

interface Target {
  url: string;
  token: string;
  store: string;
}
interface Server {
  child: ChildProcess;
  target: Target;
  dispatcher: Agent;
  /** Per organization index: its client's credentials as a Basic header. */
  auth: string[];
}

const orgName = (i: number) => `partner-${String(i).padStart(5, '0')}`;

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memoryOf(child: ChildProcess): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

async function admin(server: Server, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await request(`${server.target.url}/admin/v1/namespaces/${NS}/${path}`, {
    method: method as 'PUT',
    headers: { authorization: `Bearer ${server.target.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    dispatcher: server.dispatcher,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Runs `task(i)` for i in [0, n) with `concurrency` in flight. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

const meta = (kind: string, name: string) => ({ apiVersion: 'gatehouse.dev/v1alpha1', kind, metadata: { name, namespace: NS } });

const orgObject = (i: number) => ({ ...meta('Organization', orgName(i)), spec: { displayName: `Partner ${i}`, emailDomains: [`${orgName(i)}.example`], contract: { id: `C-${i}`, partnerType: 'supplier', owner: 'owner@scale.example', endsAt: '2099-12-31T23:59:59Z' } } });

/** Objects per bulk apply (`POST …/namespaces/{ns}/apply`, where the server has it). */
const BULK = 500;

/**
 * Declares the workspace and `n` organizations, each with an m2m client, through the admin API:
 * in bulk applies where the server offers them, else with parallel PUTs. Then each client's secret.
 */
async function populate(server: Server, n: number): Promise<{ seconds: number; how: string }> {
  const t0 = performance.now();
  await admin(server, 'PUT', 'workspaces/scale', { ...meta('Workspace', 'scale'), spec: { tokens: { accessToken: '15m' } } });
  const org = orgObject;
  const sync = (i: number) => ({ ...meta('Client', `${orgName(i)}-sync`), spec: { organizationRef: { name: orgName(i) }, type: 'm2m', audiences: [`https://orders.${orgName(i)}.example`] } });
  let how = `bulk applies of ${BULK}`;
  try {
    for (let from = 0; from < n; from += BULK / 2) {
      const items = [];
      for (let i = from; i < Math.min(n, from + BULK / 2); i++) items.push({ object: org(i) }, { object: sync(i) });
      await admin(server, 'POST', 'apply', { items });
    }
  } catch (error) {
    if (!/: 40[45] /.test(String(error))) throw error;
    how = `PUTs, ${PUT_CONCURRENCY} in flight`;
    await pool(n, PUT_CONCURRENCY, async (i) => {
      await admin(server, 'PUT', `organizations/${orgName(i)}`, org(i));
      await admin(server, 'PUT', `clients/${orgName(i)}-sync`, sync(i));
    });
  }
  server.auth = new Array<string>(n);
  await pool(n, PUT_CONCURRENCY, async (i) => {
    const { clientId, clientSecret } = (await admin(server, 'POST', `clients/${orgName(i)}-sync/secret`)) as { clientId: string; clientSecret: string };
    server.auth[i] = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  });
  return { seconds: (performance.now() - t0) / 1000, how };
}

type Op = 'discovery' | 'jwks' | 'token';
/** The mix: a sign-in starts with discovery and the keys; machines take tokens. */
const MIX: Op[] = ['discovery', 'jwks', 'token', 'token'];

async function call(server: Server, org: number, op: Op): Promise<boolean> {
  const issuer = `${server.target.url}/${NS}/${orgName(org)}`;
  if (op === 'token') {
    const res = await request(`${issuer}/token`, { method: 'POST', headers: { authorization: server.auth[org]!, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials', dispatcher: server.dispatcher });
    const json = (await res.body.json()) as { access_token?: string };
    return res.statusCode === 200 && typeof json.access_token === 'string';
  }
  const res = await request(op === 'discovery' ? `${issuer}/.well-known/openid-configuration` : `${issuer}/jwks`, { dispatcher: server.dispatcher });
  const json = (await res.body.json()) as { issuer?: string; keys?: unknown[] };
  return res.statusCode === 200 && (op === 'discovery' ? json.issuer === issuer : Array.isArray(json.keys) && json.keys.length > 0);
}

/** Zipf(s) over n ranks: a sampler, ranks mapped to organizations by a fixed shuffle. */
function zipf(n: number, s: number): () => number {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cumulative[r] = sum += 1 / (r + 1) ** s;
  const order = Array.from({ length: n }, (_, i) => i);
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return () => {
    const x = Math.random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return order[lo]!;
  };
}

const quantile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/** Every organization serves one request (its discovery document), oldest touch first afterwards. */
async function sweep(server: Server, n: number, touched: Float64Array): Promise<{ seconds: number; p99: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await pool(n, 8, async (i) => {
    const s = performance.now();
    if (!(await call(server, i, 'discovery'))) errors++;
    latencies.push(performance.now() - s);
    touched[i] = performance.now();
  });
  latencies.sort((a, b) => a - b);
  return { seconds: (performance.now() - t0) / 1000, p99: quantile(latencies, 0.99), errors };
}

interface Round {
  /** The server's CPU (all its threads) per request of the round, µs. */
  cpuPerRequest: number;
  /** The same by thread (event loop, libuv's pool, the audit thread, …). */
  cpuByThread: Record<string, number>;
  tokensPerSecond: number;
  requestsPerSecond: number;
  p99: number;
  cold: number[];
  errors: number;
}

/** One round of the mix at `server`, with a prober asking the least recently touched organization. */
async function round(server: Server, n: number, touched: Float64Array, sample: () => number, seconds: number): Promise<Round> {
  const deadline = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const cold: number[] = [];
  let tokens = 0;
  let errors = 0;
  let requests = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const org = sample();
      const op = MIX[requests++ % MIX.length]!;
      touched[org] = performance.now();
      const t0 = performance.now();
      const ok = await call(server, org, op);
      latencies.push(performance.now() - t0);
      if (!ok) errors++;
      else if (op === 'token') tokens++;
    }
  };
  // The organizations untouched the longest, oldest first: at N beyond the cache, each one's issuer is the cold case.
  const prober = async () => {
    let probes = 0;
    while (performance.now() < deadline) {
      let org = 0;
      for (let i = 1; i < n; i++) if (touched[i]! < touched[org]!) org = i;
      touched[org] = performance.now();
      const t0 = performance.now();
      if (!(await call(server, org, MIX[probes++ % MIX.length]!))) errors++;
      cold.push(performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  // A configuration change now and then, as a controller applying a partner's edit would make.
  let changes = 0;
  const changer = async () => {
    while (CHANGE_EVERY > 0 && performance.now() + CHANGE_EVERY * 1000 < deadline) {
      await new Promise((resolve) => setTimeout(resolve, CHANGE_EVERY * 1000));
      const i = changes++ % n;
      await admin(server, 'PUT', `organizations/${orgName(i)}`, { ...orgObject(i), spec: { ...orgObject(i).spec, displayName: `Partner ${i}, edit ${changes}` } });
    }
  };
  const t0 = performance.now();
  const cpu0 = cpuSeconds(server.child);
  const threads0 = threadCpuSeconds(server.child);
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), prober(), changer()]);
  const elapsed = (performance.now() - t0) / 1000;
  const served = latencies.length + cold.length;
  const cpuPerRequest = ((cpuSeconds(server.child) - cpu0) / served) * 1e6;
  const cpuByThread = Object.fromEntries(Object.entries(threadCpuSeconds(server.child)).map(([name, seconds]) => [name, ((seconds - (threads0[name] ?? 0)) / served) * 1e6]));
  latencies.sort((a, b) => a - b);
  return { cpuPerRequest, cpuByThread, tokensPerSecond: tokens / elapsed, requestsPerSecond: latencies.length / elapsed, p99: quantile(latencies, 0.99), cold, errors };
}

const script = new URL('./servers/scale.ts', import.meta.url).pathname;
// --postgres: each server's store is a database of its own on a throwaway PostgreSQL cluster started here (as the specs start one).
const postgres = values.postgres ? await startBenchPostgres() : undefined;
const open = async (): Promise<Server> => {
  const { child, target } = await start<Target>(script, postgres ? { DATABASE_URL: await postgres.createDatabase() } : {});
  return { child, target, dispatcher: new Agent({ connections: CONCURRENCY + 1, keepAliveTimeout: 10_000 }), auth: [] };
};
process.env.BENCH_LABEL = `${SMALL} organizations`;
const small = await open();
if (CACHE) process.env.BENCH_MAX_ISSUERS = CACHE;
if (PROVIDERS) process.env.BENCH_MAX_PROVIDERS = PROVIDERS;
process.env.BENCH_LABEL = `${ORGS} organizations`;
const large = await open();
delete process.env.BENCH_MAX_ISSUERS;
delete process.env.BENCH_MAX_PROVIDERS;
delete process.env.BENCH_LABEL;
const line = (name: string, op: string, target: string, figure: string, met: boolean) => console.log(`target ${name} ${op} ${target}: ${figure} (${met ? 'met' : 'not met'})`);
try {
  const idle = memoryOf(large.child).rss;
  await populate(small, SMALL);
  const { seconds: created, how } = await populate(large, ORGS);
  const afterCreate = memoryOf(large.child).rss;
  process.stderr.write(`created ${ORGS} organizations (+ client, secret) in ${created.toFixed(1)} s; server RSS ${(idle / MiB).toFixed(0)} → ${(afterCreate / MiB).toFixed(0)} MiB\n`);
  const touched = { small: new Float64Array(SMALL), large: new Float64Array(ORGS) };
  await sweep(small, SMALL, touched.small);
  const swept = await sweep(large, ORGS, touched.large);
  const afterSweep = memoryOf(large.child).rss;
  process.stderr.write(`first request to each of ${ORGS}: ${swept.seconds.toFixed(1)} s (${((swept.seconds * 1000) / ORGS).toFixed(2)} ms each at 8 in flight), p99 ${swept.p99.toFixed(1)} ms, ${swept.errors} errors; RSS ${(afterSweep / MiB).toFixed(0)} MiB\n`);

  const samplers = { small: zipf(SMALL, ZIPF), large: zipf(ORGS, ZIPF) };
  for (const [name, server, n] of [
    ['small', small, SMALL],
    ['large', large, ORGS],
  ] as const)
    await round(server, n, touched[name], samplers[name], QUICK ? 1 : 3); // warm up
  const results: { small: Round[]; large: Round[] } = { small: [], large: [] };
  let peakRss = memoryOf(large.child).rss;
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const);
    for (const name of order) {
      const server = name === 'small' ? small : large;
      results[name].push(await round(server, name === 'small' ? SMALL : ORGS, touched[name], samplers[name], SECONDS));
      peakRss = Math.max(peakRss, memoryOf(large.child).rss);
    }
    const [s, l] = [results.small.at(-1)!, results.large.at(-1)!];
    process.stderr.write(
      `round ${r + 1}/${ROUNDS}: ${SMALL} orgs ${s.tokensPerSecond.toFixed(0)} tokens/s (${s.requestsPerSecond.toFixed(0)} req/s), ${ORGS} orgs ${l.tokensPerSecond.toFixed(0)} tokens/s (${l.requestsPerSecond.toFixed(0)} req/s), ratio ${(l.tokensPerSecond / s.tokensPerSecond).toFixed(2)}; server CPU ${s.cpuPerRequest.toFixed(0)} / ${l.cpuPerRequest.toFixed(0)} µs per request; p99 ${s.p99.toFixed(1)} / ${l.p99.toFixed(1)} ms; RSS ${(memoryOf(small.child).rss / MiB).toFixed(0)} / ${(memoryOf(large.child).rss / MiB).toFixed(0)} MiB\n`,
    );
  }
  const untouched = ORGS - touched.large.filter((t) => t > 0).length;
  const ratios = results.large.map((l, i) => l.tokensPerSecond / results.small[i]!.tokensPerSecond);
  const cold = results.large.flatMap((r) => r.cold).sort((a, b) => a - b);
  const errors = [...results.small, ...results.large].reduce((e, r) => e + r.errors, 0) + swept.errors;
  const { peak } = memoryOf(large.child);

  console.log(
    `issuers at scale: ${ORGS} organizations (and ${SMALL}), each with an m2m client; mix discovery:jwks:token 1:1:2, Zipf s=${ZIPF}, ${CONCURRENCY} concurrent + 1 cold prober, ${ROUNDS} ABBA rounds of ${SECONDS} s${CACHE ? `, issuer cache ${CACHE}` : ''}${PROVIDERS ? `, live providers ${PROVIDERS}` : ''}${CHANGE_EVERY ? `, a change every ${CHANGE_EVERY} s` : ''}; ${cpus().length} cores, Node ${process.version}, ${large.target.store}`,
  );
  console.log(`creation: ${ORGS} organizations + ${ORGS} clients + ${ORGS} secrets through the admin API (${how}, secrets ${PUT_CONCURRENCY} in flight) in ${created.toFixed(1)} s (${(ORGS / created).toFixed(0)} organizations/s)`);
  console.log(
    `first request to each organization: ${swept.seconds.toFixed(1)} s for ${ORGS}, p99 ${swept.p99.toFixed(1)} ms; server RSS ${(idle / MiB).toFixed(0)} MiB idle, ${(afterCreate / MiB).toFixed(0)} MiB after creation, ${(afterSweep / MiB).toFixed(0)} MiB after the sweep (${((afterSweep - afterCreate) / ORGS / 1024).toFixed(0)} KiB per organization)`,
  );
  line(
    'rss',
    '<',
    '1024 MiB',
    `${(Math.max(peakRss, afterSweep) / MiB).toFixed(0)} MiB after all ${ORGS} served (${untouched} never served; process peak incl. creation ${(peak / MiB).toFixed(0)} MiB; the ${SMALL}-organization server after the same rounds: ${(memoryOf(small.child).rss / MiB).toFixed(0)} MiB)`,
    Math.max(peakRss, afterSweep) < 1024 * MiB && untouched === 0,
  );
  line('cold-p99', '<', '50 ms', `${quantile(cold, 0.99).toFixed(1)} ms (p50 ${quantile(cold, 0.5).toFixed(1)} ms, ${cold.length} requests to the organization untouched the longest; the mix's own p99 ${median(results.large.map((r) => r.p99)).toFixed(1)} ms in the same rounds)`, quantile(cold, 0.99) < 50);
  line(
    'tokens-ratio',
    '>=',
    '0.80',
    `${median(ratios).toFixed(2)} (${median(results.large.map((r) => r.tokensPerSecond)).toFixed(0)} tokens/s at ${ORGS} / ${median(results.small.map((r) => r.tokensPerSecond)).toFixed(0)} at ${SMALL}, median of ${ROUNDS} pairs, range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    median(ratios) >= 0.8,
  );
  line('errors', '=', '0', String(errors), errors === 0);
  const byThread = (rounds: Round[]) =>
    Object.keys(rounds[0]!.cpuByThread)
      .map((name) => `${name} ${median(rounds.map((r) => r.cpuByThread[name] ?? 0)).toFixed(0)}`)
      .join(', ');
  console.log(`server CPU per request (all threads): ${median(results.small.map((r) => r.cpuPerRequest)).toFixed(0)} µs at ${SMALL}, ${median(results.large.map((r) => r.cpuPerRequest)).toFixed(0)} µs at ${ORGS} (medians of the rounds)`);
  console.log(`  by thread at ${SMALL}: ${byThread(results.small)}`);
  console.log(`  by thread at ${ORGS}: ${byThread(results.large)}`);
} finally {
  for (const s of [small, large]) {
    await s.dispatcher.close();
    // Each server tells its garbage collection time on stderr as it stops.
    const exited = new Promise((resolve) => s.child.once('exit', resolve));
    s.child.kill();
    await exited;
  }
  await postgres?.stop();
}
