import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readManifests } from '../controller/sources/manifest-files.ts';
import { attestationMarkdown, buildAttestation } from './attestation.ts';
import { openStore, type Store } from '../server/store/index.ts';
import { storeOptionsFrom } from './store-env.ts';
import { readConfig } from './config.ts';

export const ATTEST_USAGE = `gatehouse attest [--dir PATH] [--format md|json] [--inactive-days N] [--now TIME]

For each organization declared under PATH (default: the current directory): contract id,
type, owner, start and end; the applications it can reach; the claims its tokens carry;
its identity providers; its administrators; who declared each of these and when (git log
of the files that hold them); its last certification and who committed it. With a store
(GATEHOUSE_DATA_DIR or DATABASE_URL, as for "gatehouse serve"): last sign-in, last token
issued, and users with no sign-in for N days (default: each organization's own
namespace's Workspace lifecycle.inactiveUserAfter, else 90).

Flags contracts ended but still active, organizations without an owner, certifications
older than the Workspace's review period, and inactive users. Exits 0 when there is no
finding, 3 when there are findings.`;

type Out = (text: string) => void;

export async function attest(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (t) => process.stdout.write(t), err: Out = (t) => process.stderr.write(t)): Promise<number> {
  let values: { dir?: string; format?: string; 'inactive-days'?: string; now?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { dir: { type: 'string' }, format: { type: 'string' }, 'inactive-days': { type: 'string' }, now: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (error) {
    err(`gatehouse attest: ${error instanceof Error ? error.message : String(error)}\n\n${ATTEST_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(`${ATTEST_USAGE}\n`);
    return 0;
  }
  const format = values.format ?? 'md';
  if (format !== 'md' && format !== 'json') {
    err(`gatehouse attest: --format must be md or json, got "${format}"\n`);
    return 2;
  }
  const now = values.now ? Date.parse(values.now) : Date.now();
  if (Number.isNaN(now)) {
    err(`gatehouse attest: --now must be a date-time, got "${values.now}"\n`);
    return 2;
  }
  const inactiveDays = values['inactive-days'] !== undefined ? Number(values['inactive-days']) : undefined;
  if (inactiveDays !== undefined && !(Number.isInteger(inactiveDays) && inactiveDays > 0)) {
    err(`gatehouse attest: --inactive-days must be a positive whole number\n`);
    return 2;
  }
  const dir = resolve(values.dir ?? '.');
  const manifests = await readManifests(dir);
  for (const e of manifests.errors) err(`warning: ${e.file} (document ${e.document + 1}) skipped: ${e.message}\n`);

  // Only a store the environment names: attest must not create an empty one under ./data.
  let store: Store | undefined;
  const config = readConfig('attest', env);
  if (config.DATABASE_URL || (env.GATEHOUSE_DATA_DIR && existsSync(join(resolve(config.GATEHOUSE_DATA_DIR), 'gatehouse.db')))) {
    store = await openStore(storeOptionsFrom(config));
  }
  try {
    const report = await buildAttestation({ dir, manifests: manifests.objects, now, ...(store ? { store } : {}), ...(inactiveDays !== undefined ? { inactiveAfterDays: inactiveDays } : {}) });
    out(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : attestationMarkdown(report));
    return report.organizations.some((o) => o.flags.length > 0) ? 3 : 0;
  } finally {
    await store?.close();
  }
}
