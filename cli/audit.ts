import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JSONWebKeySet } from 'jose';
import { auditKey } from '../server/audit/chain.ts';
import { checkAgainst, openCheckpoint, type CheckpointPayload } from '../server/audit/checkpoint.ts';
import { toOcsf } from '../server/audit/ocsf.ts';
import { readSealer } from '../server/secrets/sealer.ts';
import { openStore } from '../server/store/index.ts';
import { storeOptionsFrom } from './store-env.ts';
import { readConfig } from './config.ts';

export const AUDIT_USAGE = `gatehouse audit <verify|export> [options]

  verify [--checkpoint FILE --jwks URL|FILE]
                               re-walk the audit hash chain of the server's store and name
                               the first bad record; exits 1 when the chain is broken.
                               Records written since keying are HMACs under a key derived
                               from GATEHOUSE_SECRET_KEY (else GATEHOUSE_DATA_DIR/secret.key).
                               Each --checkpoint (a JWS from GET /admin/v1/audit/checkpoint,
                               repeatable) must verify against the namespace's JWKS (--jwks:
                               its issuer's /jwks URL or a saved file), and the chain must
                               still hold the record it names, with the hash it names
  export [--format ndjson|ocsf] [--after SEQ]
                               write the audit log, oldest first, to stdout: every record as
                               NDJSON, or sign-ins and account changes as OCSF 1.1 events
                               (Authentication 3002, Account Change 3001)

The store is the one "gatehouse serve" uses: DATABASE_URL, else GATEHOUSE_DATA_DIR
(default ./data).`;

type Out = (line: string) => void;

export async function audit(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`), err: Out = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = argv;
  let values: { format?: string; after?: string; checkpoint?: string[]; jwks?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { format: { type: 'string' }, after: { type: 'string' }, checkpoint: { type: 'string', multiple: true }, jwks: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
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
  const checkpointFiles = values.checkpoint ?? [];
  if (checkpointFiles.length > 0 && values.jwks === undefined) {
    err("gatehouse audit verify: --checkpoint needs --jwks, the JWKS of the namespace that signed it (its issuer's /jwks URL or a saved file)");
    return 2;
  }
  let config;
  try {
    config = readConfig('audit', env);
  } catch (error) {
    err(`gatehouse audit: ${(error as Error).message}`);
    return 2;
  }
  const options = storeOptionsFrom(config);
  // Opening a missing SQLite file would create an empty store and "verify" it: say so instead.
  if (options.dataDir && !existsSync(join(options.dataDir, 'gatehouse.db'))) {
    err(`gatehouse audit: no store at ${join(options.dataDir, 'gatehouse.db')} (set GATEHOUSE_DATA_DIR or DATABASE_URL to the server's)`);
    return 1;
  }
  // Read before the store is opened: a checkpoint that does not verify needs no store at all.
  const checkpoints: { file: string; payload: CheckpointPayload }[] = [];
  if (checkpointFiles.length > 0) {
    let jwks: JSONWebKeySet;
    try {
      jwks = await loadJwks(values.jwks!);
    } catch (error) {
      err(`gatehouse audit verify: --jwks ${values.jwks}: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    for (const file of checkpointFiles) {
      let jws: string;
      try {
        jws = await readFile(file, 'utf8');
      } catch (error) {
        err(`gatehouse audit verify: --checkpoint ${file}: ${error instanceof Error ? error.message : String(error)}`);
        return 1;
      }
      const opened = await openCheckpoint(jws, jwks);
      if (!opened.ok) {
        err(`checkpoint ${file} REFUSED: ${opened.problem}`);
        return 1;
      }
      checkpoints.push({ file, payload: opened.payload });
    }
  }
  const sealer = readSealer(config, options.dataDir ? join(options.dataDir, 'secret.key') : undefined);
  const store = await openStore(options);
  if (sealer) store.useAuditKey(auditKey((purpose) => sealer.derive(purpose)));
  try {
    if (sub === 'verify') {
      const where = `${store.driver.dialect} at ${store.location}`;
      const verdict = await store.verifyAudit();
      if (!verdict.ok) {
        err(`audit chain BROKEN at record ${verdict.seq}: ${verdict.problem} (${verdict.records} records read; ${where})`);
        return 1;
      }
      for (const { file, payload } of checkpoints) {
        const problem = checkAgainst(payload, verdict, (await store.audit.record(payload.seq))?.hash);
        if (problem) {
          err(`audit chain BROKEN against checkpoint ${file}: ${problem} (${where})`);
          return 1;
        }
      }
      const keyed = verdict.keyedFrom === null ? 'not keyed' : `keyed from record ${verdict.keyedFrom}`;
      const vouched = checkpoints.map(({ payload }) => `; checkpoint of record ${payload.seq} (${payload.namespace}, ${payload.time}) holds`).join('');
      out(`audit chain intact: ${verdict.records} records, head ${verdict.head}, ${keyed}${vouched} (${where})`);
      return 0;
    }
    for await (const record of store.audit.walk()) {
      if (record.seq <= after) continue;
      const line = format === 'ndjson' ? record : toOcsf(record);
      if (line) out(JSON.stringify(line));
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** A JWKS from an http(s) URL (an issuer's /jwks) or a file saved from one. */
async function loadJwks(source: string): Promise<JSONWebKeySet> {
  const text = /^https?:\/\//.test(source) ? await fetchText(source) : await readFile(source, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys)) throw new Error('not a JWKS (no "keys" array)');
  return parsed as JSONWebKeySet;
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
}
