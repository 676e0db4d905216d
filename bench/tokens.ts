// npm run bench:tokens — client_credentials tokens per second and latency, Gatehouse beside a bare
// oidc-provider, in the same run on the same machine. Each server runs in its own process; this
// process only generates load (loopback only, bounded in time).
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { Agent, request } from 'undici';
import { cpuSeconds, machineTicks, median, start } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);

interface Target {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
}

async function load(server: { child: ChildProcess; target: Target }, seconds: number) {
  const { target } = server;
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
  const auth = `Basic ${Buffer.from(`${encodeURIComponent(target.clientId)}:${encodeURIComponent(target.clientSecret)}`).toString('base64')}`;
  const body = 'grant_type=client_credentials&scope=inventory%3Aread';
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const res = await request(target.tokenUrl, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body, dispatcher });
      const json = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || !json.access_token) errors++;
      else latencies.push(performance.now() - t0);
    }
  };
  const started = performance.now();
  const cpuBefore = cpuSeconds(server.child);
  const machineBefore = machineTicks();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const cpuPerToken = ((cpuSeconds(server.child) - cpuBefore) / latencies.length) * 1e6;
  const machine = machineTicks();
  const steal = (machine.steal - machineBefore.steal) / (machine.total - machineBefore.total);
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { tokensPerSecond: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), cpuPerToken, steal, errors, tokens: latencies.length };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
type Result = Awaited<ReturnType<typeof load>>;

// Short rounds, in pairs, each pair in the order ABBA: a burst of other work on this shared
// machine, or a slow drift, then lands on both servers alike, and each pair yields a ratio.
// BENCH_RISK=1: Gatehouse without a risk policy stands in for the bare provider, beside Gatehouse with one (ratios: policy on / off).
const RISK = process.env.BENCH_RISK === '1';
const servers = {
  bare: await start<Target>(new URL(RISK ? './servers/gatehouse.ts' : './servers/bare-oidc-provider.ts', import.meta.url).pathname),
  gatehouse: await start<Target>(new URL(RISK ? './servers/gatehouse-risk.ts' : './servers/gatehouse.ts', import.meta.url).pathname),
};
const results: { bare: Result[]; gatehouse: Result[] } = { bare: [], gatehouse: [] };
try {
  for (const s of Object.values(servers)) await load(s, WARMUP_SECONDS); // warm up: JIT tiers, key import, issuer build
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['bare', 'gatehouse'] as const) : (['gatehouse', 'bare'] as const);
    for (const name of order) results[name].push(await load(servers[name], SECONDS));
    const [b, g] = [results.bare.at(-1)!, results.gatehouse.at(-1)!];
    process.stderr.write(
      `round ${round + 1}/${ROUNDS}: bare ${b.tokensPerSecond.toFixed(0)}/s ${b.cpuPerToken.toFixed(0)} µs CPU, gatehouse ${g.tokensPerSecond.toFixed(0)}/s ${g.cpuPerToken.toFixed(0)} µs CPU, ratio ${(g.tokensPerSecond / b.tokensPerSecond).toFixed(2)}, steal ${(100 * b.steal).toFixed(0)}%/${(100 * g.steal).toFixed(0)}%\n`,
    );
  }
} finally {
  for (const s of Object.values(servers)) s.child.kill();
}
const summary = (list: Result[]) => ({
  tokensPerSecond: median(list.map((r) => r.tokensPerSecond)),
  p50: median(list.map((r) => r.p50)),
  p99: median(list.map((r) => r.p99)),
  cpuPerToken: median(list.map((r) => r.cpuPerToken)),
  errors: list.reduce((n, r) => n + r.errors, 0),
});
const bare = summary(results.bare);
const gatehouse = summary(results.gatehouse);
const ratios = results.gatehouse.map((g, i) => g.tokensPerSecond / results.bare[i]!.tokensPerSecond);
const cpuRatios = results.gatehouse.map((g, i) => g.cpuPerToken / results.bare[i]!.cpuPerToken);
const row = (name: string, r: typeof bare) => `${name.padEnd(44)} ${r.tokensPerSecond.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.cpuPerToken.toFixed(0).padStart(11)} ${String(r.errors).padStart(7)}`;
console.log(`client_credentials, ES256 JWT access tokens, ${CONCURRENCY} concurrent clients, medians of ${ROUNDS} paired rounds of ${SECONDS} s, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`);
console.log(`${'server'.padEnd(44)} ${'tokens/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/tok'.padStart(11)} ${'errors'.padStart(7)}`);
console.log(row(RISK ? 'gatehouse, no risk policy (in place of bare)' : `bare oidc-provider (in-memory${process.env.BENCH_BARE_SIGNER === 'gatehouse' ? ', our signer' : ''})`, bare));
console.log(row(`gatehouse (${process.env.DATABASE_URL ? 'postgres' : 'sqlite'}, audit on${RISK ? ', risk policy on' : ''})`, gatehouse));
console.log(`throughput ratio gatehouse / bare: ${median(ratios).toFixed(2)} median of the pairs (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); target ≥ 0.80`);
console.log(`server CPU per token, gatehouse / bare: ${median(cpuRatios).toFixed(2)} median of the pairs (all threads of each server process)`);
const steals = [...results.bare, ...results.gatehouse].map((r) => r.steal).filter((x) => !Number.isNaN(x));
if (steals.length) console.log(`CPU stolen by the hypervisor during the rounds: median ${(100 * median(steals)).toFixed(1)}%, worst ${(100 * Math.max(...steals)).toFixed(1)}% (a shared machine: compare ratios, not absolute figures)`);
