// npm run bench:tokens — client_credentials tokens per second and latency, Gatehouse beside a bare
// oidc-provider, in the same run on the same machine. Each server runs in its own process; this
// process only generates load (loopback only, bounded in time).
import type { ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { Agent } from 'undici';
import { cpuSeconds, issueTokens, machineTicks, median, quantile, start, startBenchPostgres, threadCpuSeconds, type TokenTarget } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);

async function load(server: { child: ChildProcess; target: TokenTarget }, seconds: number) {
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const cpuBefore = cpuSeconds(server.child);
  const threadsBefore = threadCpuSeconds(server.child);
  const machineBefore = machineTicks();
  const { latencies, errors } = await issueTokens(server.target, dispatcher, CONCURRENCY, deadline);
  const elapsed = (performance.now() - started) / 1000;
  const cpuPerToken = ((cpuSeconds(server.child) - cpuBefore) / latencies.length) * 1e6;
  const threadsAfter = threadCpuSeconds(server.child);
  const cpuPerTokenByThread = Object.fromEntries(Object.entries(threadsAfter).map(([name, seconds]) => [name, ((seconds - (threadsBefore[name] ?? 0)) / latencies.length) * 1e6]));
  const machine = machineTicks();
  const steal = (machine.steal - machineBefore.steal) / (machine.total - machineBefore.total);
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  return { tokensPerSecond: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), cpuPerToken, cpuPerTokenByThread, steal, errors, tokens: latencies.length };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
type Result = Awaited<ReturnType<typeof load>>;

// --postgres: Gatehouse's store on a throwaway PostgreSQL cluster started here (as the specs start one).
const postgres = process.argv.includes('--postgres') ? await startBenchPostgres() : undefined;
if (postgres) process.env.DATABASE_URL = postgres.url;

// Short rounds, in pairs, each pair in the order ABBA: a burst of other work on this shared
// machine, or a slow drift, then lands on both servers alike, and each pair yields a ratio.
// BENCH_RISK=1: Gatehouse without a risk policy stands in for the bare provider, beside Gatehouse with one (ratios: policy on / off).
const RISK = process.env.BENCH_RISK === '1';
const servers = {
  bare: await start<TokenTarget>(new URL(RISK ? './servers/gatehouse.ts' : './servers/bare-oidc-provider.ts', import.meta.url).pathname),
  gatehouse: await start<TokenTarget>(new URL(RISK ? './servers/gatehouse-risk.ts' : './servers/gatehouse.ts', import.meta.url).pathname),
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
  await postgres?.stop();
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
const ratio = median(ratios);
console.log(`throughput ratio gatehouse / bare: ${ratio.toFixed(2)} median of the pairs (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}); target ≥ ${RISK ? '0.95 (risk on / off)' : '1.0'}`);
console.log(`server CPU per token, gatehouse / bare: ${median(cpuRatios).toFixed(2)} median of the pairs (all threads of each server process)`);
// Per thread (Linux): the event loop is what limits a server's throughput; the others run beside it on the same cores.
const byThread = (list: Result[]) => {
  const names = [...new Set(list.flatMap((r) => Object.keys(r.cpuPerTokenByThread)))];
  return names
    .map((name) => [name, median(list.map((r) => r.cpuPerTokenByThread[name] ?? 0))] as const)
    .filter(([, us]) => us >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => `${name} ${us.toFixed(0)}`)
    .join(', ');
};
if (Object.keys(results.bare[0]?.cpuPerTokenByThread ?? {}).length) {
  console.log(`CPU µs per token by thread, bare: ${byThread(results.bare)}`);
  console.log(`CPU µs per token by thread, gatehouse: ${byThread(results.gatehouse)}`);
}
const steals = [...results.bare, ...results.gatehouse].map((r) => r.steal).filter((x) => !Number.isNaN(x));
if (steals.length) console.log(`CPU stolen by the hypervisor during the rounds: median ${(100 * median(steals)).toFixed(1)}%, worst ${(100 * Math.max(...steals)).toFixed(1)}% (a shared machine: compare ratios, not absolute figures)`);
console.log(
  `load average (1, 5, 15 min) at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`,
);
// #23's goal, one line to grep: Gatehouse (durable store, audit on) at least as fast as the bare provider.
if (RISK) {
  // #21's goal: a risk policy adds under 5 % to the CPU per token.
  const overhead = median(cpuRatios) - 1;
  console.log(`target risk CPU per token overhead < 5%: ${(100 * overhead).toFixed(1)}% (${overhead < 0.05 ? 'met' : 'not met'})`);
} else {
  console.log(`target tokens ratio >= 1.0: ${ratio.toFixed(2)} (${ratio >= 1 ? 'met' : 'not met'})`);
}
