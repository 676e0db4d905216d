import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnyObject } from '../../api/index.ts';
import { AdminClient } from '../../client/admin-client.ts';
import { startDirectoryController, type DirectoryController } from '../../controller/directory-controller.ts';
import { DirectorySource } from '../../controller/sources/directory.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const NS = 'blixit-partners';
let gh: TestServer;
let admin: AdminClient;
let dir: string;
let controller: DirectoryController;
const lines: string[] = [];

const git = (...args: string[]) =>
  execFileSync('git', args, { cwd: dir, env: { ...process.env, GIT_AUTHOR_DATE: '2026-11-20T08:00:00Z', GIT_COMMITTER_DATE: '2026-11-20T08:00:00Z' } })
    .toString()
    .trim();

/** Polls until `check` passes; resolves with how long that took. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms; controller said:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

const ready = (o: AnyObject | undefined) => (o?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] })?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-gitops-'));
  await cp('examples/blixit-partners', dir, { recursive: true });
  git('init', '-q', '-b', 'main');
  git('-c', 'user.name=Maria Jensen', '-c', 'user.email=maria.jensen@blixit.example', 'add', '.');
  git('-c', 'user.name=Maria Jensen', '-c', 'user.email=maria.jensen@blixit.example', 'commit', '-q', '-m', 'BlixitPartners workspace');
  controller = startDirectoryController({ dir, client: admin, out: (l) => lines.push(l), debounceMs: 100 });
  await controller.firstPass;
});
afterAll(async () => {
  await controller.stop();
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('directory source: GitOps without a cluster', () => {
  it('applies the example workspace and prints the summary', () => {
    expect(lines).toContain(`applied 19 objects from ${dir} (19 created, 0 updated, 0 unchanged)`);
  });

  it('records the commit, author and date of each object’s file in its status and audit record', async () => {
    const commit = git('rev-parse', 'HEAD');
    const org = await admin.get('Organization', NS, 'forge-supplies');
    expect(org?.status).toMatchObject({
      observedGeneration: 1,
      source: { type: 'git', file: 'forge-supplies.yaml', document: 1, commit, author: 'Maria Jensen <maria.jensen@blixit.example>', date: '2026-11-20T08:00:00+00:00' },
    });
    expect(ready(org)).toMatchObject({ status: 'True', reason: 'Reconciled' });
    const records = (await admin.request('GET', `/admin/v1/audit?organization=forge-supplies&action=Organization.created`)) as { items: { data: { provenance: Record<string, string> } }[] };
    expect(records.items[0]!.data.provenance).toMatchObject({ source: 'git', commit, file: 'forge-supplies.yaml', document: '1', author: 'Maria Jensen <maria.jensen@blixit.example>', reason: 'declared' });
  });

  it('applies an edited token lifetime within a second of saving the file', async () => {
    const file = join(dir, 'cascade-consulting.yaml');
    const text = await readFile(file, 'utf8');
    expect(text).toContain('accessToken: 30m');
    await writeFile(file, text.replace('accessToken: 30m', 'accessToken: 20m'));
    const took = await eventually(async () => (await admin.get('Organization', NS, 'cascade-consulting'))?.metadata.generation === 2);
    expect(took).toBeLessThan(1500);
    const org = await admin.get('Organization', NS, 'cascade-consulting');
    expect(org?.spec).toMatchObject({ tokens: { accessToken: '20m' } });
    // Not committed yet: the status names no commit, the audit record the one the edit started from.
    expect((org?.status as { source: object } | undefined)?.source).not.toHaveProperty('commit');
  });

  it('records the commit once the edit is committed, without a new generation', async () => {
    git('-c', 'user.name=Ola Berg', '-c', 'user.email=ola@blixit.example', 'commit', '-q', '-am', 'Shorter access tokens for Cascade');
    const commit = git('rev-parse', 'HEAD');
    await eventually(async () => ((await admin.get('Organization', NS, 'cascade-consulting'))?.status as { source?: { commit?: string } })?.source?.commit === commit);
    const org = await admin.get('Organization', NS, 'cascade-consulting');
    expect(org?.metadata.generation).toBe(2);
    expect(org?.status).toMatchObject({ source: { author: 'Ola Berg <ola@blixit.example>' } });
  });

  it('creates a client added in a new file', async () => {
    await writeFile(join(dir, 'forge-reports.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Client\nmetadata:\n  name: forge-reports\n  namespace: blixit-partners\nspec:\n  organizationRef:\n    name: forge-supplies\n  type: m2m\n  scopes: [reports:read]\n');
    await eventually(async () => (await admin.get('Client', NS, 'forge-reports')) !== undefined);
  });

  it('reports a broken file with its file and field, keeps what it declared before, and applies the rest', async () => {
    const file = join(dir, 'forge-reports.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('type: m2m', 'type: robot'));
    await writeFile(join(dir, 'notes.yaml'), 'this: is: not: yaml\n');
    await writeFile(join(dir, 'forge-supplies.yaml'), (await readFile(join(dir, 'forge-supplies.yaml'), 'utf8')).replace('displayName: Forge Supplies', 'displayName: Forge Supplies AB'));
    await eventually(async () => ready(await admin.get('Client', NS, 'forge-reports'))?.status === 'False');
    const reports = await admin.get('Client', NS, 'forge-reports');
    expect(ready(reports)).toMatchObject({ reason: 'InvalidSpec', message: expect.stringContaining('spec.type') });
    await eventually(async () => (await admin.get('Organization', NS, 'forge-supplies'))?.metadata.generation === 2);
    await eventually(async () => lines.some((l) => l.startsWith('  ✗ forge-reports.yaml (document 1): Client blixit-partners/forge-reports: spec.type')));
    await eventually(async () => lines.some((l) => l.startsWith('  ✗ notes.yaml (document 1): not valid YAML')));
    await rm(join(dir, 'notes.yaml'));
    await rm(file);
    await eventually(async () => (await admin.get('Client', NS, 'forge-reports')) === undefined);
  });

  it('deletes an organization removed from the folder, its dependants first, with provenance', async () => {
    await rm(join(dir, 'pinnacle-logistics.yaml'));
    await eventually(async () => (await admin.get('Organization', NS, 'pinnacle-logistics')) === undefined);
    expect(await admin.list('Client', NS)).not.toContainEqual(expect.objectContaining({ metadata: expect.objectContaining({ name: 'pinnacle-shipments' }) }));
    const records = (await admin.request('GET', `/admin/v1/audit?organization=pinnacle-logistics&limit=10`)) as { items: { action: string; data: { provenance: Record<string, string> } }[] };
    const deletions = records.items
      .filter((r) => r.action.endsWith('.deleted'))
      .map((r) => r.action)
      .reverse();
    expect(deletions.at(-1)).toBe('Organization.deleted');
    expect(deletions).toHaveLength(4);
    expect(records.items[0]!.data.provenance).toMatchObject({ reason: 'undeclared' });
  });

  it('makes zero writes when a fresh controller starts over the same folder', async () => {
    await controller.loop.idle();
    const again = await new (await import('../../controller/reconciler.ts')).Reconciler({ client: admin, owner: controller.reconciler.owner, source: 'git' }).reconcile(await new DirectorySource({ dir }).read());
    expect(again).toMatchObject({ writes: 0, failed: 0, created: 0, updated: 0, deleted: 0 });
  });
});

describe('directory source without git', () => {
  it('records the file only, and marks documents that cannot be read as an incomplete read', async () => {
    const plain = await mkdtemp(join(tmpdir(), 'gatehouse-plain-'));
    try {
      await writeFile(join(plain, 'a.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Organization\nmetadata:\n  name: solo\nspec:\n  displayName: Solo\n---\nkind: [\n');
      const state = await new DirectorySource({ dir: plain }).read();
      expect(state.objects[0]).toMatchObject({ provenance: { source: 'directory', file: 'a.yaml', document: '1' }, source: { type: 'directory', file: 'a.yaml', document: 1 } });
      expect(state.complete).toBe(false);
    } finally {
      await rm(plain, { recursive: true, force: true });
    }
  });
});
