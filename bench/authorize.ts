// npm run bench:authorize — the authorization decision endpoint (POST {issuer}/authorize) beside
// introspection of the same JWT access token, on the same Gatehouse process, in paired rounds
// (ABBA order). Both are what a resource server or gateway asks per API call; the ratio is what
// the decision costs over the check it replaces. Loopback only, bounded in time.
import { cpus } from 'node:os';
import { Agent, request } from 'undici';
import { cpuSeconds, machineTicks, median, start } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
/** Distinct paths the load spreads over: allows are audited once per token, path and minute. */
const PATHS = Number(process.env.BENCH_PATHS ?? 1000);

interface Target {
  tokenUrl: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

const server = await start<Target>(new URL('./servers/gatehouse.ts', import.meta.url).pathname);
const { target } = server;
const basic = `Basic ${Buffer.from(`${encodeURIComponent(target.clientId)}:${encodeURIComponent(target.clientSecret)}`).toString('base64')}`;
const issued = await request(target.tokenUrl, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=inventory%3Aread' });
const token = ((await issued.body.json()) as { access_token: string }).access_token;

type Endpoint = 'introspection' | 'authorize';
/** One call of each endpoint, and whether its answer is the expected one (active / allowed). */
const calls: Record<Endpoint, (i: number, dispatcher: Agent) => Promise<boolean>> = {
  async introspection(_i, dispatcher) {
    const res = await request(`${target.issuer}/token/introspection`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}`, dispatcher });
    return res.statusCode === 200 && ((await res.body.json()) as { active?: boolean }).active === true;
  },
  async authorize(i, dispatcher) {
    const res = await request(`${target.issuer}/authorize`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ method: 'GET', path: `/inventory/items/${i % PATHS}` }), dispatcher });
    return res.statusCode === 200 && ((await res.body.json()) as { allow?: boolean }).allow === true;
  },
};

async function load(endpoint: Endpoint, seconds: number) {
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      if (await calls[endpoint](n++, dispatcher)) latencies.push(performance.now() - t0);
      else errors++;
    }
  };
  const started = performance.now();
  const cpuBefore = cpuSeconds(server.child);
  const machineBefore = machineTicks();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const cpuPerCall = ((cpuSeconds(server.child) - cpuBefore) / latencies.length) * 1e6;
  const machine = machineTicks();
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), cpuPerCall, steal: (machine.steal - machineBefore.steal) / (machine.total - machineBefore.total), errors };
}

type Result = Awaited<ReturnType<typeof load>>;
const results: Record<Endpoint, Result[]> = { introspection: [], authorize: [] };
try {
  for (const endpoint of ['introspection', 'authorize'] as const) await load(endpoint, WARMUP_SECONDS);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['introspection', 'authorize'] as const) : (['authorize', 'introspection'] as const);
    for (const endpoint of order) results[endpoint].push(await load(endpoint, SECONDS));
    const [i, a] = [results.introspection.at(-1)!, results.authorize.at(-1)!];
    process.stderr.write(`round ${round + 1}/${ROUNDS}: introspection ${i.perSecond.toFixed(0)}/s, authorize ${a.perSecond.toFixed(0)}/s, ratio ${(a.perSecond / i.perSecond).toFixed(2)}\n`);
  }
} finally {
  server.child.kill();
}
const summary = (list: Result[]) => ({
  perSecond: median(list.map((r) => r.perSecond)),
  p50: median(list.map((r) => r.p50)),
  p99: median(list.map((r) => r.p99)),
  cpuPerCall: median(list.map((r) => r.cpuPerCall)),
  errors: list.reduce((sum, r) => sum + r.errors, 0),
});
const ratios = results.authorize.map((a, i) => a.perSecond / results.introspection[i]!.perSecond);
const cpuRatios = results.authorize.map((a, i) => a.cpuPerCall / results.introspection[i]!.cpuPerCall);
const row = (name: string, r: ReturnType<typeof summary>) => `${name.padEnd(40)} ${r.perSecond.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.cpuPerCall.toFixed(0).padStart(12)} ${String(r.errors).padStart(7)}`;
console.log(`one ES256 JWT access token, ${CONCURRENCY} concurrent callers, medians of ${ROUNDS} paired rounds of ${SECONDS} s, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`);
console.log(`${'endpoint'.padEnd(40)} ${'calls/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/call'.padStart(12)} ${'errors'.padStart(7)}`);
console.log(row('introspection (client_secret_basic)', summary(results.introspection)));
console.log(row(`authorize (bearer, ${PATHS} paths)`, summary(results.authorize)));
console.log(`throughput ratio authorize / introspection: ${median(ratios).toFixed(2)} median of the pairs (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`);
console.log(`server CPU per call, authorize / introspection: ${median(cpuRatios).toFixed(2)} median of the pairs`);
