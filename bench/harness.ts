// What the benchmarks share: a server in its own process, its CPU time and the machine's, medians.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { type Agent, request } from 'undici';
import { startPostgres, type PostgresServer } from '../test/support/postgres.ts';

/** Runs a server script in its own process (with `env` added to ours) and reads the JSON line it prints once it listens. */
export async function start<Target>(script: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; target: Target }> {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...profile, script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
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

/** CPU seconds a process has used so far, all of its threads (Linux; NaN elsewhere). */
export function cpuSeconds(child: ChildProcess): number {
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds each group of a process's threads has used so far (Linux; empty elsewhere): the
 * main thread ("event loop"), libuv's pool ("libuv-worker"), worker threads ("WorkerThread"),
 * V8's helpers ("V8Worker"); other threads by their name.
 */
export function threadCpuSeconds(child: ChildProcess): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const task of readdirSync(`/proc/${child.pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${child.pid}/task/${task}/stat`, 'utf8');
        const name = task === String(child.pid) ? 'event loop' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // not Linux, or the process is gone
  }
  return out;
}

/** The machine's CPU time so far, and the part of it the hypervisor gave to other guests (Linux). */
export function machineTicks(): { total: number; steal: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return { total: NaN, steal: NaN };
  }
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Where a server issues client_credentials tokens, and to whom. */
export interface TokenTarget {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
}

/**
 * `concurrency` callers asking `target` for client_credentials tokens (client_secret_basic,
 * scope inventory:read) until `deadline` (performance.now()): the latency of each token
 * issued, in ms, and the number of answers that were not a token.
 */
export async function issueTokens(target: TokenTarget, dispatcher: Agent, concurrency: number, deadline: number): Promise<{ latencies: number[]; errors: number }> {
  const auth = `Basic ${Buffer.from(`${encodeURIComponent(target.clientId)}:${encodeURIComponent(target.clientSecret)}`).toString('base64')}`;
  const body = 'grant_type=client_credentials&scope=inventory%3Aread';
  const latencies: number[] = [];
  let errors = 0;
  const caller = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const res = await request(target.tokenUrl, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body, dispatcher });
      const json = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || !json.access_token) errors++;
      else latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { latencies, errors };
}

/** The value at quantile `p` of an ascending list (NaN when it is empty). */
export const quantile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/** A throwaway PostgreSQL cluster (test/support/postgres.ts) for a benchmark; exits the process when the machine has none. */
export async function startBenchPostgres(): Promise<PostgresServer> {
  const server = await startPostgres();
  if (!server) {
    process.stderr.write('no PostgreSQL binaries found (initdb, pg_ctl): set GATEHOUSE_TEST_POSTGRES to their directory\n');
    process.exit(2);
  }
  return server;
}
