/**
 * Keeps the README's Configuration table equal to cli/config.ts:
 *
 *   node cli/config-docs.ts           rewrite the table between the markers in README.md
 *   node cli/config-docs.ts --check   exit 1 when the README's table is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configurationTable } from './config.ts';

export const README = join(dirname(fileURLToPath(import.meta.url)), '..', 'README.md');
const START = '<!-- configuration table: generated from cli/config.ts by `npm run gen:config`; do not edit -->';
const END = '<!-- end of configuration table -->';

/** The README text with its table regenerated. Throws when the markers are missing. */
export function renderReadme(text: string): string {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no configuration table markers (${START} … ${END})`);
  return `${text.slice(0, start)}${START}\n${configurationTable()}\n${text.slice(end)}`;
}

export function readmeIsCurrent(path = README): boolean {
  const text = readFileSync(path, 'utf8');
  return renderReadme(text) === text;
}

function main(argv: string[]): number {
  if (argv.includes('--check')) {
    if (readmeIsCurrent()) return 0;
    console.error('README.md: the Configuration table differs from cli/config.ts: run `npm run gen:config` and commit the result.');
    return 1;
  }
  const text = readFileSync(README, 'utf8');
  const next = renderReadme(text);
  if (next !== text) writeFileSync(README, next);
  console.log(next === text ? 'README.md configuration table already up to date.' : 'wrote the configuration table in README.md');
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
