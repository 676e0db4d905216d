/**
 * npm run bench:reconcile [-- --orgs N --changes N]
 *
 * A generated folder of N organizations (default 1,000), each with an OIDC IdP connection, two
 * clients and a claim mapping, reconciled into a server on an embedded SQLite store through
 * the admin API. Reports the time to converge from empty, the time for one edited file to take
 * effect (p50/p99, watch + debounce + pass), the writes of an idle pass, and peak memory
 * (server and controller share this process).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient } from '../client/admin-client.ts';
import { startDirectoryController } from '../controller/directory-controller.ts';
import { Reconciler } from '../controller/reconciler.ts';
import { DirectorySource } from '../controller/sources/directory.ts';
import { startTestServer } from '../test/support/server.ts';

const { values } = parseArgs({ options: { orgs: { type: 'string', default: '1000' }, changes: { type: 'string', default: '30' } } });
const ORGS = Number(values.orgs);
const CHANGES = Number(values.changes);
const NS = 'bench';

function partner(i: number): string {
  const name = `partner-${String(i).padStart(4, '0')}`;
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

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
const gh = await startTestServer();
try {
  for (let i = 0; i < ORGS; i++) await writeFile(join(dir, `partner-${String(i).padStart(4, '0')}.yaml`), partner(i));
  const client = new AdminClient({ endpoint: gh.url, token: gh.token });
  const owner = `directory:${dir}`;

  let t = performance.now();
  const first = await new Reconciler({ client, owner, source: 'directory' }).reconcile(await new DirectorySource({ dir, git: false }).read());
  const convergeMs = performance.now() - t;
  if (first.failed) throw new Error(`bench input failed: ${first.problems[0]?.message}`);

  t = performance.now();
  const idle = await new Reconciler({ client, owner, source: 'directory' }).reconcile(await new DirectorySource({ dir, git: false }).read());
  const idlePassMs = performance.now() - t;

  const controller = startDirectoryController({ dir, client, out: () => {}, resyncMs: 3_600_000, owner });
  await controller.firstPass;
  const latencies: number[] = [];
  for (let c = 0; c < CHANGES; c++) {
    const i = (c * 37) % ORGS;
    const file = join(dir, `partner-${String(i).padStart(4, '0')}.yaml`);
    const lifetime = `${16 + c}m`;
    const before = controller.loop.passes;
    t = performance.now();
    await writeFile(file, (await readFile(file, 'utf8')).replace(/accessToken: \d+m/, `accessToken: ${lifetime}`));
    for (;;) {
      const org = await client.get('Organization', NS, `partner-${String(i).padStart(4, '0')}`);
      if ((org?.spec as { tokens?: { accessToken?: string } } | undefined)?.tokens?.accessToken === lifetime) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    latencies.push(performance.now() - t);
    // Let the pass that applied it finish before the next edit, so each change is measured alone.
    while (controller.loop.passes === before) await new Promise((r) => setTimeout(r, 5));
    await controller.loop.idle();
  }
  await controller.stop();
  latencies.sort((a, b) => a - b);

  const objects = first.declared;
  console.log(`reconcile benchmark: ${ORGS} organizations, ${objects} objects, ${new Date().toISOString().slice(0, 10)}, node ${process.version}`);
  console.log(`  converge from empty     ${(convergeMs / 1000).toFixed(2)} s  (${first.created} created, ${first.statusWrites} status writes, ${Math.round(objects / (convergeMs / 1000))} objects/s)`);
  console.log(`  idle pass               ${idle.writes} writes, ${idlePassMs.toFixed(0)} ms`);
  console.log(`  one change takes effect p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms  (${CHANGES} edits, watch + 150 ms debounce + pass)`);
  console.log(`  peak RSS                ${(peakRss / 2 ** 20).toFixed(0)} MiB  (server and controller in one process)`);
  if (idle.writes !== 0) process.exitCode = 1;
} finally {
  clearInterval(sampler);
  await gh.close();
  await rm(dir, { recursive: true, force: true });
}
