/**
 * npm run bench:reconcile [-- --orgs N --changes N]
 *
 * A generated folder of N organizations (default 1,000; try 10,000), each with an OIDC IdP
 * connection, two clients and a claim mapping (5 objects each), reconciled by the directory
 * controller (this process) into a Gatehouse server in its own process (SQLite store), through
 * the admin API. Measures, against the targets:
 * - converge from empty: controller start until its first (full) pass has created everything;
 * - idle pass: a full resync pass over the converged folder, which must write nothing;
 * - one edit: a file edited until the pass that applies it ends (watch + debounce + settle +
 *   keyed pass, its status write included), p50/p99 over `--changes` edits;
 * - controller RSS: the peak resident set of this process (the server's is reported apart).
 * Prints one `target <name> <op> <target>: <figure> (met|not met)` line per target.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient } from '../client/admin-client.ts';
import { startDirectoryController } from '../controller/directory-controller.ts';
import { start } from './harness.ts';

const { values } = parseArgs({ options: { orgs: { type: 'string', default: '1000' }, changes: { type: 'string', default: '30' } } });
const ORGS = Number(values.orgs);
const CHANGES = Number(values.changes);
const NS = 'bench';
const pad = (i: number) => String(i).padStart(5, '0');
function partner(i: number): string {
  const name = `partner-${pad(i)}`;
  return `apiVersion: gatehouse.dev/v1alpha1
kind: Organization
metadata: { name: ${name}, namespace: ${NS} }
spec:
  displayName: Partner ${i}
  emailDomains: [${name}.example]
  tokens: { accessToken: 15m }
  contract: { id: C-${i}, partnerType: supplier, owner: owner@blixit.example, endsAt: "2027-12-31T23:59:59Z" }
---
apiVersion: gatehouse.dev/v1alpha1
kind: IdPConnection
metadata: { name: ${name}-idp, namespace: ${NS} }
spec:
  organizationRef: { name: ${name} }
  type: oidc
  oidc: { issuer: "https://idp.${name}.example", clientId: gatehouse, clientSecretRef: { name: ${name}-idp, key: secret } }
---
apiVersion: gatehouse.dev/v1alpha1
kind: Client
metadata: { name: ${name}-portal, namespace: ${NS} }
spec:
  organizationRef: { name: ${name} }
  type: web
  redirectUris: ["https://portal.${name}.example/callback"]
  scopes: [openid, profile, email]
---
apiVersion: gatehouse.dev/v1alpha1
kind: Client
metadata: { name: ${name}-sync, namespace: ${NS} }
spec:
  organizationRef: { name: ${name} }
  type: m2m
  scopes: [orders:read]
---
apiVersion: gatehouse.dev/v1alpha1
kind: ClaimMapping
metadata: { name: ${name}-claims, namespace: ${NS} }
spec:
  organizationRef: { name: ${name} }
  claims:
    - { name: partner_type, from: contract.partnerType }
    - { name: contract_id, from: contract.id }
`;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
const peakOf = (pid: number | undefined) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
const server = await start<{ url: string; token: string; store: string }>(new URL('./servers/admin.ts', import.meta.url).pathname);
const lines: string[] = [];
try {
  for (let i = 0; i < ORGS; i++) await writeFile(join(dir, `partner-${pad(i)}.yaml`), partner(i));
  const client = new AdminClient({ endpoint: server.target.url, token: server.target.token, timeoutMs: 120_000 });
  const load = loadavg()[0]!;

  let t = performance.now();
  const controller = startDirectoryController({ dir, client, out: (line) => lines.push(line), resyncMs: 3_600_000, owner: `directory:${dir}` });
  const first = await controller.firstPass;
  const convergeMs = performance.now() - t;
  if (first.failed) throw new Error(`bench input failed: ${first.problems[0]?.message}`);
  await controller.loop.idle();

  // The resync: a full pass over the converged folder and server.
  let passes = controller.loop.passes;
  t = performance.now();
  controller.loop.trigger();
  while (controller.loop.passes === passes) await sleep(5);
  const idlePassMs = performance.now() - t;
  const idle = controller.loop.lastReport!;

  const latencies: number[] = [];
  const keyedBefore = controller.loop.keyedPasses;
  for (let c = 0; c < CHANGES; c++) {
    const i = (c * 37) % ORGS;
    const file = join(dir, `partner-${pad(i)}.yaml`);
    const lifetime = `${16 + c}m`;
    passes = controller.loop.passes;
    t = performance.now();
    await writeFile(file, (await readFile(file, 'utf8')).replace(/accessToken: \d+m/, `accessToken: ${lifetime}`));
    // Watched from the controller's side (a GET of an organization costs the server a read of
    // the namespace's organizations, and polling it would slow what is measured): the change
    // has taken effect when a pass reports the server accepted it.
    const edited = `Organization ${NS}/partner-${pad(i)}`;
    for (;;) {
      const report = controller.loop.lastReport;
      if (controller.loop.passes > passes && report?.results.some((r) => r.outcome === 'updated' && `${r.key.kind} ${r.key.namespace}/${r.key.name}` === edited)) break;
      await sleep(2);
    }
    latencies.push(performance.now() - t);
    await controller.loop.idle();
    const org = await client.get('Organization', NS, `partner-${pad(i)}`);
    if ((org?.spec as { tokens?: { accessToken?: string } } | undefined)?.tokens?.accessToken !== lifetime) throw new Error(`${edited}: the server does not hold the edit`);
  }
  const keyed = controller.loop.keyedPasses - keyedBefore;
  await controller.stop();
  latencies.sort((a, b) => a - b);
  const serverPeak = peakOf(server.child.pid);

  const objects = first.declared;
  const convergeTarget = ORGS / 100; // 10 s for 1,000; 100 s for 10,000
  const p99 = percentile(latencies, 99);
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  console.log(`reconcile benchmark: ${ORGS} organizations, ${objects} objects, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, load ${load.toFixed(1)} at start (${server.target.store})`);
  console.log(`  converge from empty     ${(convergeMs / 1000).toFixed(2)} s  (${first.created} created, ${first.statusWrites} status writes, ${first.batches} bulk requests, ${Math.round(objects / (convergeMs / 1000))} objects/s)`);
  console.log(`  idle full pass          ${idle.writes} writes, ${idlePassMs.toFixed(0)} ms`);
  console.log(`  one change takes effect p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms  (${CHANGES} edits, ${keyed} keyed passes; watch + 150 ms debounce + 250 ms settle + pass)`);
  console.log(`  peak RSS                controller ${mib(peakRss)}, server ${mib(serverPeak)} (separate processes)`);
  console.log(`target converge-from-empty < ${convergeTarget} s: ${(convergeMs / 1000).toFixed(2)} s (${met(convergeMs / 1000 < convergeTarget)})`);
  console.log(`target idle-pass-writes = 0: ${idle.writes} (${met(idle.writes === 0)})`);
  console.log(`target one-edit-p99 < 1000 ms: ${p99.toFixed(0)} ms (${met(p99 < 1000)})`);
  console.log(`target controller-rss < 1024 MiB: ${mib(peakRss)} (${met(peakRss < 2 ** 30)})`);
  if (idle.writes !== 0) process.exitCode = 1;
} catch (error) {
  for (const line of lines) console.error(line);
  throw error;
} finally {
  clearInterval(sampler);
  server.child.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
