/**
 * The audit vocabulary (server/audit/actions.ts) is exactly what the server writes: every
 * action named in server/ and cli/ is in it, everything in it is written somewhere, and the
 * OCSF export maps only actions that are written. The type checker refuses an append of a
 * name outside it; this spec catches names that reach an append through a plain string
 * (a lookup table, a ternary) and vocabulary nobody writes any more.
 */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AUDIT_ACTIONS, isAuditAction, OBJECT_ACTIONS, RUNTIME_ACTIONS } from '../../../server/audit/actions.ts';
import type { ChainRecord } from '../../../server/audit/chain.ts';
import { OCSF_ACTIONS, toOcsf } from '../../../server/audit/ocsf.ts';

const ROOT = join(import.meta.dirname, '../../..');
const VOCABULARY = 'server/audit/actions.ts';

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Every quoted `domain.event` literal whose domain is one the vocabulary uses, by file. */
const domains = [...new Set(AUDIT_ACTIONS.map((a) => a.slice(0, a.indexOf('.'))))];
const literal = new RegExp(`['"\`]((?:${domains.join('|')})\\.[a-z][a-z-]*)['"\`]`, 'g');
/** Same shape, other meaning: claim sources (`source: 'organization.id'`). */
const NOT_ACTIONS = new Set(['organization.id']);
const named = new Map<string, string[]>();
for (const file of [...sources('server'), ...sources('cli')]) {
  if (file === VOCABULARY) continue;
  for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(literal)) if (!NOT_ACTIONS.has(m[1]!)) named.set(m[1]!, [...(named.get(m[1]!) ?? []), file]);
}
const outside = (files: string[] | undefined, ...excluded: string[]) => (files ?? []).filter((f) => !excluded.includes(f));

const record = (action: string): ChainRecord => ({ seq: 1, at: 1_700_000_000_000, action, actor: 'ana', namespace: 'blixit', organization: 'forge', kind: null, name: null, client: 'portal', subject: 'ana', outcome: 'success', data: {}, prevHash: '0'.repeat(64), hash: '1'.repeat(64) });

describe('the audit vocabulary', () => {
  it('names each action once', () => {
    expect(new Set(AUDIT_ACTIONS).size).toBe(AUDIT_ACTIONS.length);
  });

  it('holds every action the server and the CLI name', () => {
    const unknown = [...named.keys()].filter((a) => !isAuditAction(a)).map((a) => `${a} (${named.get(a)!.join(', ')})`);
    expect(unknown).toEqual([]);
  });

  it('holds no action that nothing writes', () => {
    expect([...RUNTIME_ACTIONS, ...OBJECT_ACTIONS].filter((a) => outside(named.get(a), 'server/audit/ocsf.ts').length === 0)).toEqual([]);
  });

  it('is one convention: lower-case `domain.event` at run time, `Kind.event` on a declared object', () => {
    for (const a of RUNTIME_ACTIONS) expect(a).toMatch(/^[a-z]+\.[a-z]+(-[a-z]+)*$/);
    for (const a of OBJECT_ACTIONS) expect(a).toMatch(/^[A-Z][A-Za-z]+\.[a-z]+(-[a-z]+)*$/);
  });
});

describe('the OCSF export', () => {
  it.each(OCSF_ACTIONS.map((a) => [a]))('maps %s, which the server writes', (action) => {
    expect(isAuditAction(action)).toBe(true);
    // Object changes are written through `${kind}.${change}` (server/objects/service.ts), not as literals.
    if (!/^[A-Z][A-Za-z]+\.(created|updated|deleted)$/.test(action)) expect(outside(named.get(action), 'server/audit/ocsf.ts')).not.toEqual([]);
    expect(toOcsf(record(action))).toMatchObject({ unmapped: { action } });
  });

  it.each([['logout'], ['constructor'], ['__proto__'], ['Organization.created']])('leaves out %s (not an account or sign-in event, or not ours)', (action) => {
    expect(toOcsf(record(action))).toBeUndefined();
  });
});
