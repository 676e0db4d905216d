/**
 * The documentation's relative links and anchors resolve: the reference is spread over
 * README.md, docs/*.md and bench/README.md, and a section moved or renamed in one file
 * silently breaks links to it from the others.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'bench/README.md',
];

const withoutFences = (markdown: string) => markdown.replace(/^(```|~~~)[^]*?^\1/gm, '');

/** Text outside fenced code blocks and inline code, where `](…)` is not a link. */
const prose = (markdown: string) => withoutFences(markdown).replace(/`[^`\n]*`/g, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = heading!.replace(/`([^`]*)`/g, '$1').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}_ -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Every broken relative link of one markdown file (its path relative to the root), as `file: target (why)`. */
export function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const broken: string[] = [];
  for (const [, target] of prose(markdown).matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue;
    const [path, anchor] = target!.split('#', 2) as [string, string | undefined];
    const resolved = path === '' ? file : relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(path)));
    if (path !== '' && !existsSync(join(ROOT, resolved))) {
      broken.push(`${file}: ${target} (no such file ${resolved})`);
      continue;
    }
    if (anchor === undefined || !resolved.endsWith('.md')) continue;
    const text = path === '' ? markdown : read(resolved);
    if (text === undefined || !anchors(text).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
  }
  return broken;
}

const readDoc = (path: string) => (existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : undefined);

describe('the documentation links', () => {
  it.each(DOCS.map((f) => [f]))('%s links only to files and headings that exist', (file) => {
    expect(brokenLinks(file, readDoc(file)!, readDoc)).toEqual([]);
  });

  it('covers the README, every docs/ page and the benchmark notes', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'docs/security.md', 'bench/README.md']));
  });
});

describe('the link check', () => {
  const page = ['# Title', '## Audit: the `chain` — kept', '## Twice', '## Twice', '```sh', '# not a heading', '```', ''].join('\n');

  it('derives the anchors GitHub gives headings', () => {
    expect([...anchors(page)]).toEqual(['title', 'audit-the-chain--kept', 'twice', 'twice-1']);
  });

  it('accepts links to existing files, folders and headings, and external URLs', () => {
    const text = `${page}[a](#twice-1) [b](docs/security.md#checkpoints) [c](api/) [d](https://example.com/#x) \`[e](#nowhere)\``;
    expect(brokenLinks('README.md', text, readDoc)).toEqual([]);
  });

  it('names a missing file, a missing heading in this file and a missing heading in another', () => {
    const text = `${page}[a](#nowhere) [b](docs/missing.md) [c](security.md#no-such-section) [d](../README.md)`;
    expect(brokenLinks('docs/x.md', text, readDoc)).toEqual(['docs/x.md: #nowhere (no heading #nowhere in docs/x.md)', 'docs/x.md: docs/missing.md (no such file docs/docs/missing.md)', 'docs/x.md: security.md#no-such-section (no heading #no-such-section in docs/security.md)']);
  });
});
