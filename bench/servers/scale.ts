// Gatehouse for bench:scale: its real store (SQLite in a temp dir, or DATABASE_URL), audit on, the
// system clock, and an admin token; organizations are then declared through its admin API.
import { randomBytes } from 'node:crypto';
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

const store = await openStore(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-scale-')) });
const token = randomBytes(24).toString('base64url');
await ensureBootstrapToken(store, token, systemClock.now());
const maxIssuers = process.env.BENCH_MAX_ISSUERS ? Number(process.env.BENCH_MAX_ISSUERS) : undefined;
const settings = { store, clock: systemClock, logger: silentLogger, sealer: new Sealer(randomBytes(32).toString('base64url')), publicUrl: 'http://127.0.0.1', ...(maxIssuers ? { maxIssuers } : {}) };
const gatehouse = createApp(settings);
const running = await listen(gatehouse.callback, { host: '127.0.0.1', port: 0 });
settings.publicUrl = running.url;
process.stdout.write(`${JSON.stringify({ url: running.url, token, store: store.driver.dialect })}\n`);
process.on('SIGTERM', () => process.exit(0));
