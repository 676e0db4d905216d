import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The design card's rules of who may import what, checked on every import of every source file.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** Every module specifier a file imports or re-exports, static or dynamic. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = new Set<string>();
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) found.add(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) found.add(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) found.add(m[1]!);
  return [...found];
}

/** The top-level folder a relative import lands in, or the package name of a bare one. */
function target(file: string, specifier: string): { folder?: string; pkg?: string } {
  if (!specifier.startsWith('.')) return { pkg: specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]! };
  return { folder: relative(ROOT, resolve(dirname(file), specifier)).split(/[\\/]/)[0]! };
}

function violations(folder: string, allowed: { folders: string[]; packages?: (pkg: string) => boolean }): string[] {
  const out: string[] = [];
  for (const file of sources(folder)) {
    for (const specifier of importsOf(file)) {
      const t = target(file, specifier);
      const ok = t.folder !== undefined ? allowed.folders.includes(t.folder) : (allowed.packages?.(t.pkg!) ?? true);
      if (!ok) out.push(`${relative(ROOT, file)} imports ${specifier}`);
    }
  }
  return out;
}

describe('architecture: who may import what', () => {
  it('api/ is pure: it imports only zod and itself', () => {
    expect(violations('api', { folders: ['api'], packages: (pkg) => pkg === 'zod' })).toEqual([]);
  });

  it('the controller reaches the server only through the admin API client', () => {
    expect(violations('controller', { folders: ['api', 'client', 'controller'] })).toEqual([]);
  });

  it('the Pulumi provider reaches the server only through the admin API client', () => {
    expect(violations('provider', { folders: ['api', 'client', 'provider'] })).toEqual([]);
  });

  it('the admin API client depends on api/ alone', () => {
    expect(violations('client', { folders: ['api', 'client'] })).toEqual([]);
  });

  it('the server never imports the controller, the provider or the CLI', () => {
    expect(violations('server', { folders: ['api', 'client', 'server'] })).toEqual([]);
  });

  it('only app.ts reaches the HTTP admin layer: domain code raises server/errors.ts problems and takes server/changes.ts contexts', () => {
    const offenders: string[] = [];
    for (const file of sources('server')) {
      const rel = relative(ROOT, file);
      if (rel === join('server', 'app.ts') || rel.startsWith(join('server', 'admin') + '/')) continue;
      for (const specifier of importsOf(file)) {
        if (!specifier.startsWith('.')) continue;
        const landed = relative(ROOT, resolve(dirname(file), specifier));
        if (landed.startsWith(join('server', 'admin') + '/')) offenders.push(`${rel} imports ${specifier}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('finds the imports it checks (the check itself can fail)', () => {
    expect(importsOf(join(ROOT, 'server/app.ts')).some((s) => s.startsWith('./admin/'))).toBe(true);
    expect(importsOf(join(ROOT, 'api/index.ts')).length).toBeGreaterThan(3);
  });
});

/** Relative imports that exist at run time (type-only ones are erased), as resolved files. */
function runtimeEdges(files: string[]): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const out: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s(?!type\s)[^;]*?from\s+'(\.[^']+)'/g)) out.push(resolve(dirname(file), m[1]!));
    edges.set(file, out);
  }
  return edges;
}

/** Strongly connected components of more than one module (Tarjan): each is an import cycle. */
function cycles(edges: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(relative(ROOT, w));
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('architecture: no import cycles', () => {
  // A cycle makes load order matter (a module sees another's bindings before they are set) and
  // welds two parts into one: what is shared moves to a module both import.
  it('no module reaches itself through run-time imports', () => {
    const files = ['api', 'server', 'controller', 'client', 'provider', 'cli'].flatMap(sources);
    expect(cycles(runtimeEdges(files))).toEqual([]);
  });

  it('finds the cycle it is shown', () => {
    const [a, b, c] = ['a.ts', 'b.ts', 'c.ts'].map((f) => join(ROOT, f));
    expect(
      cycles(
        new Map([
          [a!, [b!]],
          [b!, [c!]],
          [c!, [a!]],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(
      cycles(
        new Map([
          [a!, [b!]],
          [b!, [c!]],
          [c!, []],
        ]),
      ),
    ).toEqual([]);
  });
});
