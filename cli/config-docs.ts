/**
 * Keeps the Configuration table of docs/configuration.md equal to cli/config.ts:
 *
 *   node cli/config-docs.ts           rewrite the table between the markers in docs/configuration.md
 *   node cli/config-docs.ts --check   exit 1 when the table is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configurationTable } from './config.ts';

export const CONFIGURATION_DOC = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'configuration.md');
const START = '<!-- configuration table: generated from cli/config.ts by `npm run gen:config`; do not edit -->';
const END = '<!-- end of configuration table -->';

/** The page's text with its table regenerated. Throws when the markers are missing. */
export function renderConfigurationDoc(text: string): string {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/configuration.md has no configuration table markers (${START} … ${END})`);
  return `${text.slice(0, start)}${START}\n${configurationTable()}\n${text.slice(end)}`;
}

export function configurationDocIsCurrent(path = CONFIGURATION_DOC): boolean {
  const text = readFileSync(path, 'utf8');
  return renderConfigurationDoc(text) === text;
}

function main(argv: string[]): number {
  if (argv.includes('--check')) {
    if (configurationDocIsCurrent()) return 0;
    console.error('docs/configuration.md: the Configuration table differs from cli/config.ts: run `npm run gen:config` and commit the result.');
    return 1;
  }
  const text = readFileSync(CONFIGURATION_DOC, 'utf8');
  const next = renderConfigurationDoc(text);
  if (next !== text) writeFileSync(CONFIGURATION_DOC, next);
  console.log(next === text ? 'docs/configuration.md: the configuration table is already up to date.' : 'wrote the configuration table in docs/configuration.md');
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
