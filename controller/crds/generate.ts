/**
 * Writes one CustomResourceDefinition per kind, derived from api/, next to this script:
 *
 *   node controller/crds/generate.ts           regenerate controller/crds/gatehouse.dev_<plural>.yaml
 *                                              and the Helm chart's copy (deploy/helm/gatehouse/crds)
 *   node controller/crds/generate.ts --check   exit 1, naming the stale files, when the checked-in CRDs differ
 */
import { readFileSync, readdirSync, writeFileSync, unlinkSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { allCrds } from '../../api/crd.ts';
import { API_GROUP } from '../../api/meta.ts';

export const CRD_DIR = dirname(fileURLToPath(import.meta.url));
/** Helm installs CRDs only from its chart's own crds/ folder, so the chart carries a generated copy. */
export const CHART_CRD_DIR = resolve(CRD_DIR, '../../deploy/helm/gatehouse/crds');
const TARGETS = [CRD_DIR, CHART_CRD_DIR];
export const HEADER = '# Generated from api/ by controller/crds/generate.ts — do not edit.\n';

const GENERATED_FILE = new RegExp(`^${API_GROUP.replace(/\./g, '\\.')}_[a-z0-9]+\\.yaml$`);

/** File name → YAML text of every CRD, as the generator would write it. */
export function renderCrds(): Map<string, string> {
  const files = new Map<string, string>();
  for (const crd of allCrds()) {
    const plural = crd.spec.names.plural;
    // lineWidth 0: long patterns and CEL rules stay on one line, so diffs stay readable.
    files.set(`${API_GROUP}_${plural}.yaml`, HEADER + stringify(crd, { lineWidth: 0 }));
  }
  return files;
}

export interface CrdDrift {
  /** Files whose content differs from the generated text, or that are missing. */
  stale: string[];
  /** Generated-looking files for which no kind exists any more. */
  orphaned: string[];
}

/** Compares the files in `dir` with what `renderCrds()` produces. */
export function checkCrds(dir = CRD_DIR, rendered = renderCrds()): CrdDrift {
  const stale: string[] = [];
  for (const [name, text] of rendered) {
    const path = join(dir, name);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(name);
  }
  const orphaned = readdirSync(dir).filter((name) => GENERATED_FILE.test(name) && !rendered.has(name));
  return { stale, orphaned };
}

/** Writes every CRD and removes the ones of kinds that no longer exist; returns the names written or removed. */
export function writeCrds(dir = CRD_DIR): { written: string[]; removed: string[] } {
  const rendered = renderCrds();
  const { stale, orphaned } = checkCrds(dir, rendered);
  for (const name of stale) writeFileSync(join(dir, name), rendered.get(name)!);
  for (const name of orphaned) unlinkSync(join(dir, name));
  return { written: stale, removed: orphaned };
}

function main(argv: string[]): number {
  const shown = (dir: string, name: string) => join(relative(process.cwd(), dir), name);
  if (argv.includes('--check')) {
    let current = true;
    for (const dir of TARGETS) {
      const { stale, orphaned } = checkCrds(dir);
      for (const name of stale) console.error(`stale: ${shown(dir, name)}`);
      for (const name of orphaned) console.error(`no longer generated: ${shown(dir, name)}`);
      current &&= stale.length === 0 && orphaned.length === 0;
    }
    if (current) {
      console.log(`CRDs in ${TARGETS.join(' and ')} are up to date.`);
      return 0;
    }
    console.error('The CRDs differ from api/: run `npm run gen:crds` and commit the result.');
    return 1;
  }
  let changed = false;
  for (const dir of TARGETS) {
    mkdirSync(dir, { recursive: true });
    const { written, removed } = writeCrds(dir);
    for (const name of written) console.log(`wrote ${shown(dir, name)}`);
    for (const name of removed) console.log(`removed ${shown(dir, name)}`);
    changed ||= written.length + removed.length > 0;
  }
  if (!changed) console.log('CRDs already up to date.');
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
