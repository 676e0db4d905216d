// npm run bench:tokens — client_credentials tokens per second and latency, Gatehouse beside a bare
// oidc-provider, in the same run on the same machine. Each server runs in its own process; this
// process only generates load (loopback only, bounded in time).
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { Agent, request } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

interface Target {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
}

async function start(script: string): Promise<{ child: ChildProcess; target: Target }> {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, script], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, target: JSON.parse(line) as Target };
}

async function load(target: Target, seconds: number) {
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
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { tokensPerSecond: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), errors, tokens: latencies.length };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
type Result = Awaited<ReturnType<typeof load>>;

// Rounds alternate between the two servers, so a burst of other work on the machine hits both.
const servers = {
  bare: await start(new URL('./servers/bare-oidc-provider.ts', import.meta.url).pathname),
  gatehouse: await start(new URL('./servers/gatehouse.ts', import.meta.url).pathname),
};
const results: { bare: Result[]; gatehouse: Result[] } = { bare: [], gatehouse: [] };
try {
  for (const s of Object.values(servers)) await load(s.target, 2); // warm up: JIT, key import, issuer build
  for (let round = 0; round < ROUNDS; round++) {
    results.bare.push(await load(servers.bare.target, SECONDS));
    results.gatehouse.push(await load(servers.gatehouse.target, SECONDS));
  }
} finally {
  for (const s of Object.values(servers)) s.child.kill();
}
const median = (list: Result[]) => [...list].sort((a, b) => a.tokensPerSecond - b.tokensPerSecond)[Math.floor(list.length / 2)]!;
const bare = median(results.bare);
const gatehouse = median(results.gatehouse);
const row = (name: string, r: typeof bare) => `${name.padEnd(34)} ${r.tokensPerSecond.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${String(r.errors).padStart(7)}`;
console.log(`client_credentials, ES256 JWT access tokens, ${CONCURRENCY} concurrent clients, median of ${ROUNDS} alternating rounds of ${SECONDS} s, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`);
console.log(`${'server'.padEnd(34)} ${'tokens/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)}`);
console.log(row('bare oidc-provider (in-memory)', bare));
console.log(row(`gatehouse (${process.env.DATABASE_URL ? 'postgres' : 'sqlite'}, audit on)`, gatehouse));
console.log(`ratio gatehouse / bare: ${(gatehouse.tokensPerSecond / bare.tokensPerSecond).toFixed(2)} (target ≥ 0.80)`);
