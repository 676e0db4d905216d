// npm run bench:replicas — two Gatehouse replicas on one PostgreSQL database (started here, as the
// specs start one): client_credentials tokens/s of each while both take load, beside one replica
// alone, and how long a change made through one replica's admin API takes to be in force at the
// other (an Organization's access-token lifetime, its suspension and its return), while both take a
// trickle of token requests. Loopback only,
// bounded in time.
import type { ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { Agent, request } from 'undici';
import { cpuSeconds, issueTokens, median, quantile, start, startBenchPostgres, type TokenTarget } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
/** Changes of each kind timed from one replica to the other. */
const CHANGES = Number(process.env.BENCH_CHANGES ?? 10);
const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef0123';

interface Replica {
  child: ChildProcess;
  target: TokenTarget & { url: string; issuer: string };
}

const postgres = await startBenchPostgres();
const script = new URL('./servers/gatehouse.ts', import.meta.url).pathname;
const env = { DATABASE_URL: postgres.url, BENCH_ADMIN_TOKEN: ADMIN_TOKEN };
const a: Replica = await start(script, env);
const joined: Replica = await start(script, { ...env, BENCH_JOIN: '1' });
// The second replica declared nothing: it issues tokens to the client the first one declared.
const b: Replica = { child: joined.child, target: { ...joined.target, clientId: a.target.clientId, clientSecret: a.target.clientSecret } };

interface Round {
  tokensPerSecond: number;
  p50: number;
  p99: number;
  cpuPerToken: number;
  errors: number;
}

/** Load on each of `replicas` at once, the callers shared between them. */
async function load(replicas: Replica[], seconds: number): Promise<Round[]> {
  const per = Math.max(1, Math.floor(CONCURRENCY / replicas.length));
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const before = replicas.map((r) => cpuSeconds(r.child));
  const runs = await Promise.all(
    replicas.map(async (r) => {
      const dispatcher = new Agent({ connections: per, keepAliveTimeout: 10_000 });
      try {
        return await issueTokens(r.target, dispatcher, per, deadline);
      } finally {
        await dispatcher.close();
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return runs.map(({ latencies, errors }, i) => {
    latencies.sort((x, y) => x - y);
    return { tokensPerSecond: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), cpuPerToken: ((cpuSeconds(replicas[i]!.child) - before[i]!) / latencies.length) * 1e6, errors };
  });
}

async function admin(replica: Replica, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await request(`${replica.target.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

/** One token request at `replica`: its status and, when issued, the token's lifetime in seconds. */
async function oneToken(replica: Replica): Promise<{ status: number; expiresIn?: number }> {
  const { tokenUrl, clientId, clientSecret } = replica.target;
  const res = await request(tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=inventory%3Aread',
  });
  const json = (await res.body.json()) as { expires_in?: number };
  return { status: res.statusCode, ...(json.expires_in === undefined ? {} : { expiresIn: json.expires_in }) };
}

const ORGANIZATION = '/admin/v1/namespaces/bench/organizations/forge';
const organization = (spec: Record<string, unknown>) => ({
  apiVersion: 'gatehouse.dev/v1alpha1',
  kind: 'Organization',
  metadata: { name: 'forge', namespace: 'bench' },
  spec: { displayName: 'Forge', contract: { id: 'B-1', partnerType: 'supplier', owner: 'o@b.example', endsAt: '2099-01-01T00:00:00Z' }, ...spec },
});

/**
 * PUTs the Organization through replica `from`, then asks `to` for tokens (a request at a time,
 * as a client would) until `inForce` holds for its answer: the ms from the PUT to that answer.
 */
async function propagation(from: Replica, to: Replica, spec: Record<string, unknown>, inForce: (answer: { status: number; expiresIn?: number }) => boolean): Promise<number> {
  const t0 = performance.now();
  const put = await admin(from, 'PUT', ORGANIZATION, organization(spec));
  if (put.status >= 300) throw new Error(`PUT ${ORGANIZATION} answered ${put.status}: ${JSON.stringify(put.body)}`);
  for (;;) {
    if (inForce(await oneToken(to))) return performance.now() - t0;
    if (performance.now() - t0 > 30_000) throw new Error(`the change was not in force at the other replica after 30 s: ${JSON.stringify(spec)}`);
  }
}

const both: Round[][] = [];
const alone: Round[] = [];
const lifetimes: number[] = [];
const suspensions: number[] = [];
const returns: number[] = [];
try {
  await load([a, b], WARMUP_SECONDS); // JIT tiers, key import, issuer build on both
  for (let round = 0; round < ROUNDS; round++) {
    // Alternately first, so a drift of the machine's load lands on both measures alike.
    if (round % 2 === 0) {
      both.push(await load([a, b], SECONDS));
      alone.push((await load([a], SECONDS))[0]!);
    } else {
      alone.push((await load([a], SECONDS))[0]!);
      both.push(await load([a, b], SECONDS));
    }
    const [ra, rb] = both.at(-1)!;
    process.stderr.write(`round ${round + 1}/${ROUNDS}: replica A ${ra!.tokensPerSecond.toFixed(0)}/s, replica B ${rb!.tokensPerSecond.toFixed(0)}/s together; A alone ${alone.at(-1)!.tokensPerSecond.toFixed(0)}/s\n`);
  }
  // Each change made at one replica and awaited at the other, alternating directions. A replica
  // looks for other replicas' changes when a request comes at least a second after its last
  // look: an idle one sees a change at its next request. So both keep taking a trickle of
  // token requests meanwhile, as replicas in service do, and each change waits a random part
  // of a second first, or it would always land just after the look that let the previous one through.
  const pause = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 1000));
  let trickling = true;
  const trickle = Promise.all(
    [a, b].map(async (r) => {
      while (trickling) {
        await oneToken(r);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }),
  );
  for (let i = 0; i < CHANGES; i++) {
    const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
    const minutes = i % 2 === 0 ? 5 : 10;
    await pause();
    lifetimes.push(await propagation(from, to, { tokens: { accessToken: `${minutes}m` } }, (r) => r.status === 200 && r.expiresIn === minutes * 60));
    await pause();
    suspensions.push(await propagation(from, to, { tokens: { accessToken: `${minutes}m` }, suspended: true }, (r) => r.status === 400));
    await pause();
    returns.push(await propagation(from, to, { tokens: { accessToken: `${minutes}m` } }, (r) => r.status === 200));
    process.stderr.write(`change ${i + 1}/${CHANGES}: lifetime ${lifetimes.at(-1)!.toFixed(0)} ms, suspension ${suspensions.at(-1)!.toFixed(0)} ms, return ${returns.at(-1)!.toFixed(0)} ms\n`);
  }
  trickling = false;
  await trickle;
} finally {
  a.child.kill();
  b.child.kill();
  await postgres.stop();
}

const med = (list: Round[], key: keyof Round) => median(list.map((r) => r[key]));
const row = (name: string, list: Round[]) =>
  `${name.padEnd(36)} ${med(list, 'tokensPerSecond').toFixed(0).padStart(8)} ${med(list, 'p50').toFixed(1).padStart(8)} ${med(list, 'p99').toFixed(1).padStart(8)} ${med(list, 'cpuPerToken').toFixed(0).padStart(11)} ${String(list.reduce((n, r) => n + r.errors, 0)).padStart(7)}`;
const ms = (list: number[]) => `p50 ${median(list).toFixed(0)} ms, max ${Math.max(...list).toFixed(0)} ms over ${list.length}`;
const together = both.map(([x, y]) => x!.tokensPerSecond + y!.tokensPerSecond);
console.log(
  `client_credentials, ES256 JWT access tokens, PostgreSQL store shared by two replicas, audit on, ${CONCURRENCY} concurrent clients (split between the replicas when both take load), medians of ${ROUNDS} rounds of ${SECONDS} s, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
console.log(`${''.padEnd(36)} ${'tokens/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/tok'.padStart(11)} ${'errors'.padStart(7)}`);
console.log(
  row(
    'replica A, both taking load',
    both.map(([x]) => x!),
  ),
);
console.log(
  row(
    'replica B, both taking load',
    both.map(([, y]) => y!),
  ),
);
console.log(row('replica A alone', alone));
console.log(
  `load average (1, 5, 15 min) at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}; PostgreSQL's own CPU is not in the CPU column`,
);
console.log(
  `replicas tokens/s per replica: A ${med(
    both.map(([x]) => x!),
    'tokensPerSecond',
  ).toFixed(0)}, B ${med(
    both.map(([, y]) => y!),
    'tokensPerSecond',
  ).toFixed(0)} (together ${median(together).toFixed(0)}, one replica alone ${med(alone, 'tokensPerSecond').toFixed(0)})`,
);
console.log(`replicas access-token lifetime change in force at the other replica: ${ms(lifetimes)}`);
console.log(`replicas suspension in force at the other replica: ${ms(suspensions)}`);
console.log(`replicas end of suspension in force at the other replica: ${ms(returns)}`);
