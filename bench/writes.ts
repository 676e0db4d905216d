/**
 * node bench/writes.ts [N]
 *
 * The server's own time for one write at N organizations (default 1,000; compare 10,000): an
 * ObjectService over a fresh SQLite store, N organizations applied in bulk (500 a request), then
 * 40 single PUTs of an edited Organization and 40 of an IdPConnection, timed in process (no
 * HTTP). Prints p50 and p95 of each: flat in N when a write costs what it touches.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../server/clock.ts';
import { ObjectService } from '../server/objects/service.ts';
import { openStore } from '../server/store/index.ts';
import { quantile } from './harness.ts';

const N = Number(process.argv[2] ?? 1000);
const WRITES = 40;
const dir = await mkdtemp(join(tmpdir(), 'gatehouse-writes-'));
const store = await openStore({ dataDir: dir });
const service = new ObjectService({ store, clock: systemClock, publicUrl: 'http://localhost' });
const context = { actor: 'bench' };
const apiVersion = 'gatehouse.dev/v1alpha1';
const organization = (i: number, version = 0) => ({
  apiVersion,
  kind: 'Organization',
  metadata: { name: `partner-${i}`, namespace: 'bench' },
  spec: { displayName: `Partner ${i} v${version}`, emailDomains: [`partner-${i}.example`], contract: { id: `C-${i}`, partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2027-12-31T23:59:59Z' } },
});
const connection = (i: number, version: number) => ({
  apiVersion,
  kind: 'IdPConnection',
  metadata: { name: `partner-${i}-idp`, namespace: 'bench' },
  spec: { organizationRef: { name: `partner-${i}` }, type: 'oidc', emailDomains: [`partner-${i}.example`], oidc: { issuer: `https://idp${version}.partner-${i}.example`, clientId: 'gatehouse', clientSecretRef: { name: 'idp', key: 'secret' } } },
});

for (let start = 0; start < N; start += 500) {
  await service.applyMany(
    'bench',
    Array.from({ length: Math.min(500, N - start) }, (_, k) => ({ object: organization(start + k) })),
    context,
  );
}
const timed = async (write: (k: number) => Promise<unknown>) => {
  const ms: number[] = [];
  for (let k = 0; k < WRITES; k++) {
    const t = performance.now();
    await write(k);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return `p50 ${quantile(ms, 0.5).toFixed(1)} ms, p95 ${quantile(ms, 0.95).toFixed(1)} ms`;
};
const orgs = await timed((k) => service.apply(organization(k % N, k + 1), context));
const idps = await timed((k) => service.apply(connection(k % N, k), context));
console.log(`one write at ${N} organizations (load ${loadavg()[0]!.toFixed(1)}): Organization PUT ${orgs}; IdPConnection PUT ${idps}`);
await store.close();
await rm(dir, { recursive: true, force: true });
