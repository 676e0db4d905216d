import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toOcsf } from '../server/audit/ocsf.ts';
import { openStore } from '../server/store/index.ts';
import { storeOptionsFrom } from './store-env.ts';

export const AUDIT_USAGE = `gatehouse audit <verify|export> [options]

  verify                       re-walk the audit hash chain of the server's store and name
                               the first bad record; exits 1 when the chain is broken
  export [--format ndjson|ocsf] [--after SEQ]
                               write the audit log, oldest first, to stdout: every record as
                               NDJSON, or sign-ins and account changes as OCSF 1.1 events
                               (Authentication 3002, Account Change 3001)

The store is the one "gatehouse serve" uses: DATABASE_URL, else GATEHOUSE_DATA_DIR
(default ./data).`;

type Out = (line: string) => void;

export async function audit(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`), err: Out = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = argv;
  let values: { format?: string; after?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: rest, options: { format: { type: 'string' }, after: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    err(`gatehouse audit: ${error instanceof Error ? error.message : String(error)}\n\n${AUDIT_USAGE}`);
    return 2;
  }
  if (values.help || sub === undefined || sub === 'help') {
    out(AUDIT_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'verify' && sub !== 'export') {
    err(`gatehouse audit: unknown subcommand "${sub}"\n\n${AUDIT_USAGE}`);
    return 2;
  }
  // Usage errors first: they must not depend on whether a store is there.
  const format = values.format ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'ocsf') {
    err(`gatehouse audit export: --format must be ndjson or ocsf, got "${format}"`);
    return 2;
  }
  // A mistyped cursor must not silently export everything.
  const after = values.after === undefined ? 0 : /^\d{1,15}$/.test(values.after) ? Number(values.after) : undefined;
  if (after === undefined) {
    err(`gatehouse audit export: --after must be a record sequence number, got "${values.after}"`);
    return 2;
  }
  const options = storeOptionsFrom(env);
  // Opening a missing SQLite file would create an empty store and "verify" it: say so instead.
  if (options.dataDir && !existsSync(join(options.dataDir, 'gatehouse.db'))) {
    err(`gatehouse audit: no store at ${join(options.dataDir, 'gatehouse.db')} (set GATEHOUSE_DATA_DIR or DATABASE_URL to the server's)`);
    return 1;
  }
  const store = await openStore(options);
  try {
    if (sub === 'verify') {
      const verdict = await store.verifyAudit();
      if (verdict.ok) {
        out(`audit chain intact: ${verdict.records} records, head ${verdict.head} (${store.driver.dialect} at ${store.location})`);
        return 0;
      }
      err(`audit chain BROKEN at record ${verdict.seq}: ${verdict.problem} (${verdict.records} records read; ${store.driver.dialect} at ${store.location})`);
      return 1;
    }
    for await (const record of store.repo.walkAudit()) {
      if (record.seq <= after) continue;
      const line = format === 'ndjson' ? record : toOcsf(record);
      if (line) out(JSON.stringify(line));
    }
    return 0;
  } finally {
    await store.close();
  }
}
