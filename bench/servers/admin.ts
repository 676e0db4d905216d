// An empty Gatehouse with its real store (SQLite in a temp dir) for the controller to fill through the admin API.
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

const token = 'bench-admin-token-0123456789abcdef';
const store = await openStore(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : { dataDir: mkdtempSync(join(tmpdir(), 'gatehouse-bench-')) });
await ensureBootstrapToken(store, token, systemClock.now());
const settings = { store, clock: systemClock, logger: silentLogger, sealer: new Sealer('bench-key-bench-key-bench-key-bench-key'), publicUrl: 'http://127.0.0.1' };
const gatehouse = createApp(settings);
const running = await listen(gatehouse.callback, { host: '127.0.0.1', port: 0 });
settings.publicUrl = running.url;
process.stdout.write(`${JSON.stringify({ url: running.url, token, store: store.driver.dialect })}\n`);
process.on('SIGTERM', () => process.exit(0));
