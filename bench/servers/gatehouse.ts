// Gatehouse with its real store (SQLite in a temp dir, or DATABASE_URL) and audit, one organization and one m2m client.
// BENCH_JOIN=1: another replica on the same DATABASE_URL, declaring nothing (the first one did).
// BENCH_ADMIN_TOKEN: the admin API's bootstrap token (bench/replicas.ts changes declarations through it).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../server/app.ts';
import { systemClock } from '../../server/clock.ts';
import { ensureBootstrapToken } from '../../server/governance/admin-tokens.ts';
import { listen } from '../../server/http/listen.ts';
import { silentLogger } from '../../server/log.ts';
import { Sealer } from '../../server/secrets/sealer.ts';
import { openStore } from '../../server/store/index.ts';

const ns = 'bench';
const store = await openStore(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-bench-')) });
if (process.env.BENCH_ADMIN_TOKEN) await ensureBootstrapToken(store, process.env.BENCH_ADMIN_TOKEN, systemClock.now());
const settings = { store, clock: systemClock, logger: silentLogger, sealer: new Sealer('bench-key-bench-key-bench-key-bench-key'), publicUrl: 'http://127.0.0.1' };
const gatehouse = createApp(settings);
const running = await listen(gatehouse.callback, { host: '127.0.0.1', port: 0 });
settings.publicUrl = running.url;
const where = { url: running.url, tokenUrl: `${running.url}/${ns}/forge/token`, issuer: `${running.url}/${ns}/forge`, store: store.driver.dialect };
if (process.env.BENCH_JOIN === '1') {
  process.stdout.write(`${JSON.stringify(where)}\n`);
} else {
  const actor = { actor: 'bench' };
  const meta = (kind: string, name: string) => ({ apiVersion: 'gatehouse.dev/v1alpha1', kind, metadata: { name, namespace: ns } });
  await gatehouse.objects.apply({ ...meta('Workspace', 'bench'), spec: { tokens: { accessToken: '15m' } } }, actor);
  // servers/gatehouse-risk.ts: a risk policy evaluated on every token (clientBurst, newClientAddress) that never fires.
  const risk = process.env.GATEHOUSE_BENCH_RISK === '1' ? { risk: { rules: { clientBurst: { weight: 100, minimum: 10_000_000 }, newClientAddress: { weight: 50 } }, thresholds: { deny: 50, suspendClient: 100 } } } : {};
  await gatehouse.objects.apply({ ...meta('Organization', 'forge'), spec: { displayName: 'Forge', contract: { id: 'B-1', partnerType: 'supplier', owner: 'o@b.example', endsAt: '2099-01-01T00:00:00Z' }, ...risk } }, actor);
  await gatehouse.objects.apply({ ...meta('Client', 'sync'), spec: { organizationRef: { name: 'forge' }, type: 'm2m', scopes: ['inventory:read'], audiences: ['https://inventory.example'] } }, actor);
  await gatehouse.objects.apply({ ...meta('AccessPolicy', 'forge'), spec: { organizationRef: { name: 'forge' }, scopes: [{ scope: 'inventory:read', api: [{ path: '/inventory/*', methods: ['GET'] }] }] } }, actor);
  await gatehouse.objects.apply({ ...meta('ClaimMapping', 'forge'), spec: { organizationRef: { name: 'forge' }, claims: [{ name: 'partner_type', from: 'contract.partnerType' }] } }, actor);
  const { clientId, clientSecret } = await gatehouse.clientSecrets.rotate(ns, 'sync', actor);
  process.stdout.write(`${JSON.stringify({ ...where, clientId, clientSecret })}\n`);
}
process.on('SIGTERM', () => process.exit(0));
