import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../../client/admin-client.ts';
import { startDirectoryController } from '../../../controller/directory-controller.ts';
import { keyOf, objectKey } from '../../../controller/desired-state.ts';
import { DirectorySource } from '../../../controller/sources/directory.ts';
import { watchTree } from '../../../controller/sources/tree-watch.ts';
import { startTestServer } from '../../support/server.ts';

const NS = 'blixit-partners';
let dir: string;

const org = (name: string, lifetime = '15m') => `apiVersion: gatehouse.dev/v1alpha1
kind: Organization
metadata: { name: ${name}, namespace: ${NS} }
spec:
  displayName: ${name}
  emailDomains: [${name}.example]
  tokens: { accessToken: ${lifetime} }
  contract: { id: C-${name}, partnerType: supplier, owner: owner@blixit.example, endsAt: "2027-12-31T23:59:59Z" }
`;
const app = (name: string, organization: string) => `apiVersion: gatehouse.dev/v1alpha1
kind: Client
metadata: { name: ${name}, namespace: ${NS} }
spec: { organizationRef: { name: ${organization} }, type: m2m, scopes: [orders:read] }
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
  await writeFile(join(dir, 'acme.yaml'), `${org('acme')}---\n${app('acme-sync', 'acme')}`);
  await writeFile(join(dir, 'beta.yaml'), org('beta'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const keysOf = (state: { objects: { object: Parameters<typeof objectKey>[0] }[] }) => state.objects.map((o) => keyOf(objectKey(o.object))).sort();

describe('directory source: the files a change names map to the keys they declare', () => {
  let source: DirectorySource;
  beforeAll(() => {
    source = new DirectorySource({ dir, git: false });
  });

  it('before the first full read, nothing can be mapped', async () => {
    expect(await new DirectorySource({ dir, git: false }).changed(new Set([join(dir, 'acme.yaml')]))).toBeUndefined();
  });

  it('an edited file names the objects it declares; only those are read again, with their provenance', async () => {
    await source.read();
    await writeFile(join(dir, 'acme.yaml'), `${org('acme', '20m')}---\n${app('acme-sync', 'acme')}`);
    const keys = await source.changed(new Set([join(dir, 'acme.yaml')]));
    expect([...keys!].sort()).toEqual([`Client ${NS}/acme-sync`, `Organization ${NS}/acme`]);
    const state = await source.readKeys(keys!);
    expect(keysOf(state)).toEqual([`Client ${NS}/acme-sync`, `Organization ${NS}/acme`]);
    expect(state.objects.find((o) => o.object.kind === 'Organization')?.object.spec).toMatchObject({ tokens: { accessToken: '20m' } });
    expect(state.objects[0]!.provenance).toMatchObject({ source: 'directory', file: 'acme.yaml', document: '1' });
    expect(state.complete).toBe(true);
  });

  it('a file caught empty mid-save is read once its text is back: its objects are never taken as removed', async () => {
    await source.read();
    const path = join(dir, 'acme.yaml');
    await writeFile(path, ''); // truncated, as a save starts
    const written = new Promise((resolve) => setTimeout(resolve, 600)).then(() => writeFile(path, `${org('acme', '25m')}---\n${app('acme-sync', 'acme')}`));
    const keys = await source.changed(new Set([path]));
    await written;
    const state = await source.readKeys(keys!);
    expect(keysOf(state)).toEqual([`Client ${NS}/acme-sync`, `Organization ${NS}/acme`]);
    expect(state.objects.find((o) => o.object.kind === 'Organization')?.object.spec).toMatchObject({ tokens: { accessToken: '25m' } });
  });

  it('a file emptied on purpose still removes its objects, after the settle gives up waiting for text', async () => {
    const path = join(dir, 'beta.yaml');
    await source.read();
    await writeFile(path, '');
    const keys = await source.changed(new Set([path]));
    expect([...keys!]).toEqual([`Organization ${NS}/beta`]);
    expect(keysOf(await source.readKeys(keys!))).toEqual([]);
    await writeFile(path, org('beta'));
    await source.changed(new Set([path]));
  });
  it('a document removed from a file names the object it declared, which is then undeclared', async () => {
    await writeFile(join(dir, 'acme.yaml'), org('acme', '20m'));
    const keys = await source.changed(new Set([join(dir, 'acme.yaml')]));
    expect(keys).toContain(`Client ${NS}/acme-sync`);
    expect(keysOf(await source.readKeys(keys!))).toEqual([`Organization ${NS}/acme`]);
  });

  it('a deleted file names everything it declared', async () => {
    await rm(join(dir, 'beta.yaml'));
    const keys = await source.changed(new Set([join(dir, 'beta.yaml')]));
    expect([...keys!]).toEqual([`Organization ${NS}/beta`]);
    expect((await source.readKeys(keys!)).objects).toEqual([]);
  });

  it("an editor's temporary file and a hidden file name nothing", async () => {
    await writeFile(join(dir, '.acme.yaml.swp'), 'x');
    await writeFile(join(dir, '4913'), '');
    expect(await source.changed(new Set([join(dir, '.acme.yaml.swp'), join(dir, '4913')]))).toEqual(new Set());
  });

  it('a file that is not YAML asks for a full pass (which reports it) and makes keyed reads incomplete (no deletions) until fixed', async () => {
    await writeFile(join(dir, 'broken.yaml'), 'kind: [unclosed');
    expect(await source.changed(new Set([join(dir, 'broken.yaml')]))).toBeUndefined();
    expect((await source.readKeys(new Set([`Organization ${NS}/acme`]))).complete).toBe(false);
    await rm(join(dir, 'broken.yaml'));
    await source.changed(new Set([join(dir, 'broken.yaml')]));
    expect((await source.readKeys(new Set([`Organization ${NS}/acme`]))).complete).toBe(true);
  });

  it('a folder, an object now declared in a second file, or a path outside: only a full read can tell', async () => {
    await mkdir(join(dir, 'more'));
    expect(await source.changed(new Set([join(dir, 'more')]))).toBeUndefined();
    await writeFile(join(dir, 'copy.yaml'), org('acme'));
    expect(await source.changed(new Set([join(dir, 'copy.yaml')]))).toBeUndefined();
    await rm(join(dir, 'copy.yaml'));
    expect(await source.changed(new Set(['/etc/passwd']))).toBeUndefined();
  });
});

describe('directory controller: an edit makes a keyed pass over the edited file’s objects', () => {
  it('applies the edit through a keyed pass that reads no other object', async () => {
    const gh = await startTestServer();
    const folder = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
    try {
      for (const name of ['one', 'two', 'three']) await writeFile(join(folder, `${name}.yaml`), `${org(name)}---\n${app(`${name}-sync`, name)}`);
      const client = new AdminClient({ endpoint: gh.url, token: gh.token });
      const controller = startDirectoryController({ dir: folder, client, out: () => {}, debounceMs: 50, resyncMs: 3_600_000 });
      await controller.firstPass;
      await controller.loop.idle();
      const keyedBefore = controller.loop.keyedPasses;
      await writeFile(join(folder, 'two.yaml'), `${org('two', '25m')}---\n${app('two-sync', 'two')}`);
      const start = Date.now();
      while ((await client.get('Organization', NS, 'two'))?.metadata.generation !== 2) {
        if (Date.now() - start > 5000) throw new Error('the edit was not applied within 5 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      await controller.loop.idle();
      expect(controller.loop.keyedPasses).toBeGreaterThan(keyedBefore);
      expect([...(controller.loop.lastReport?.keys ?? [])].sort()).toEqual([`Client ${NS}/two-sync`, `Organization ${NS}/two`]);
      expect(controller.loop.lastReport).toMatchObject({ updated: 1, unchanged: 1, failed: 0 });
      await controller.stop();
    } finally {
      await gh.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('tree watch: says which files changed', () => {
  it('names the files events named, and nothing (a full read) at first and when a folder comes or goes', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
    const seen: (ReadonlySet<string> | undefined)[] = [];
    const tree = watchTree(folder, (changed) => void seen.push(changed), { debounceMs: 50 });
    const next = async (count: number) => {
      const start = Date.now();
      while (seen.length < count) {
        if (Date.now() - start > 5000) throw new Error(`no change reported after ${seen.length}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return seen[count - 1];
    };
    try {
      expect(await next(1)).toBeUndefined();
      await writeFile(join(folder, 'a.yaml'), org('a'));
      expect([...((await next(2)) ?? ['(everything)'])]).toEqual([join(folder, 'a.yaml')]);
      await mkdir(join(folder, 'sub'));
      expect(await next(3)).toBeUndefined();
      await writeFile(join(folder, 'sub', 'b.yaml'), org('b'));
      expect([...((await next(4)) ?? ['(everything)'])]).toEqual([join(folder, 'sub', 'b.yaml')]);
    } finally {
      tree.close();
      await rm(folder, { recursive: true, force: true });
    }
  });
});
