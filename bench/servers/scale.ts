// Gatehouse for bench:scale: its real store (SQLite in a temp dir, or DATABASE_URL), audit on, the
// system clock, and an admin token; organizations are then declared through its admin API.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { createApp } from '../../server/app.ts';
import { systemClock } from '../../server/clock.ts';
import { ensureBootstrapToken } from '../../server/governance/admin-tokens.ts';
import { listen } from '../../server/http/listen.ts';
import { silentLogger } from '../../server/log.ts';
import { Sealer } from '../../server/secrets/sealer.ts';
import { openStore } from '../../server/store/index.ts';

const store = await openStore(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-scale-')) });
const token = randomBytes(24).toString('base64url');
await ensureBootstrapToken(store, token, systemClock.now());
const maxIssuers = process.env.BENCH_MAX_ISSUERS ? Number(process.env.BENCH_MAX_ISSUERS) : undefined;
const maxProviders = process.env.BENCH_MAX_PROVIDERS ? Number(process.env.BENCH_MAX_PROVIDERS) : undefined;
const settings = { store, clock: systemClock, logger: silentLogger, sealer: new Sealer(randomBytes(32).toString('base64url')), publicUrl: 'http://127.0.0.1', ...(maxIssuers ? { maxIssuers } : {}), ...(maxProviders ? { maxProviders } : {}) };
const gatehouse = createApp(settings);
const running = await listen(gatehouse.callback, { host: '127.0.0.1', port: 0 });
settings.publicUrl = running.url;
process.stdout.write(`${JSON.stringify({ url: running.url, token, store: store.driver.dialect })}\n`);
// Time spent collecting garbage, by kind, told on stderr when the bench stops the server.
const gc = { major: 0, minor: 0, other: 0, count: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    gc.count++;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major += entry.duration;
    else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor += entry.duration;
    else gc.other += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });
process.on('SIGTERM', () => {
  process.stderr.write(
    `server (${process.env.BENCH_LABEL ?? running.url}): ${gc.count} collections, major ${gc.major.toFixed(0)} ms, minor ${gc.minor.toFixed(0)} ms, other ${gc.other.toFixed(0)} ms; heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB; issuers built ${gatehouse.issuers.issuersBuilt}; providers built ${gatehouse.issuers.providersBuilt}, live ${gatehouse.issuers.liveProviders}\n`,
  );
  process.exit(0);
});
