import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrganizationObject } from '../../../api/index.ts';
import { AdminClient } from '../../../client/admin-client.ts';
import { startDirectoryController, type DirectoryController } from '../../../controller/directory-controller.ts';
import { DirectorySource } from '../../../controller/sources/directory.ts';
import { pollUntil } from '../../support/eventually.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';

/*
 * Every way a file of a served folder changes must be live within 2 s, with the periodic
 * resync far away (10 min) so only the watch can have noticed.
 */
const NS = 'watched';
const LIVE_WITHIN_MS = 2000;
const tempDir = temporaryDirectories('gatehouse-watch-');
let gh: TestServer;
let admin: AdminClient;
let dir: string;
let controller: DirectoryController;
const lines: string[] = [];

const organization = (name: string, displayName: string) => `apiVersion: gatehouse.dev/v1alpha1\nkind: Organization\nmetadata:\n  name: ${name}\n  namespace: ${NS}\nspec:\n  displayName: ${displayName}\n`;
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=Ola Berg', '-c', 'user.email=ola@blixit.example', ...args], { cwd: dir })
    .toString()
    .trim();

/** Waits until the admin API shows what `method` changed; the failure names the method. */
async function liveAfter(method: string, check: () => Promise<boolean>, ms = LIVE_WITHIN_MS): Promise<void> {
  await pollUntil(check, ms, () => `a change made by ${method} was not live within ${ms} ms; controller said:\n${lines.join('\n')}`);
}
const displayNameIs = (name: string, expected: string) => async () => (await admin.get<OrganizationObject>('Organization', NS, name))?.spec.displayName === expected;
const absent = (name: string) => async () => (await admin.get('Organization', NS, name)) === undefined;

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
  dir = await tempDir();
  await mkdir(join(dir, 'partners'));
  await writeFile(join(dir, 'partners', 'acme.yaml'), organization('acme', 'Acme 1'));
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'Acme');
  controller = startDirectoryController({ dir, client: admin, out: (l) => lines.push(l), resyncMs: 600_000 });
  await controller.firstPass;
});
afterAll(async () => {
  await controller.stop();
  await gh.close();
});

describe('directory source: every kind of save is live within 2 s', () => {
  const acme = () => join(dir, 'partners', 'acme.yaml');

  it('sees a file replaced by writing a temporary file and renaming it over (editors’ atomic save)', async () => {
    const temp = join(dir, 'partners', '.acme.yaml.swp');
    await writeFile(temp, organization('acme', 'Acme renamed'));
    await rename(temp, acme());
    await liveAfter('write-temp-then-rename', displayNameIs('acme', 'Acme renamed'));
  });

  it('still sees in-place writes to that file after it was replaced', async () => {
    await writeFile(acme(), organization('acme', 'Acme in place'));
    await liveAfter('in-place write', displayNameIs('acme', 'Acme in place'));
  });

  it('sees sed -i', async () => {
    execFileSync('sed', ['-i', 's/Acme in place/Acme sed/', acme()]);
    await liveAfter('sed -i', displayNameIs('acme', 'Acme sed'));
  });

  it('sees a new file', async () => {
    await writeFile(join(dir, 'beta.yaml'), organization('beta', 'Beta'));
    await liveAfter('new file', displayNameIs('beta', 'Beta'));
  });

  it('sees a deleted file', async () => {
    await rm(join(dir, 'beta.yaml'));
    await liveAfter('deleted file', absent('beta'));
  });

  it('sees a new subdirectory, files written into it afterwards, and its removal', async () => {
    await mkdir(join(dir, 'more', 'nested'), { recursive: true });
    await writeFile(join(dir, 'more', 'nested', 'gamma.yaml'), organization('gamma', 'Gamma'));
    await liveAfter('new subdirectory', displayNameIs('gamma', 'Gamma'));
    await writeFile(join(dir, 'more', 'nested', 'gamma.yaml'), organization('gamma', 'Gamma 2'));
    await liveAfter('write in a new subdirectory', displayNameIs('gamma', 'Gamma 2'));
    await rm(join(dir, 'more'), { recursive: true });
    await liveAfter('removed subdirectory', absent('gamma'));
  });

  it('sees git checkout of another commit', async () => {
    await writeFile(acme(), organization('acme', 'Acme committed'));
    git('commit', '-q', '-am', 'Acme committed');
    const committed = git('rev-parse', 'HEAD');
    await liveAfter('git commit', displayNameIs('acme', 'Acme committed'));
    await writeFile(acme(), organization('acme', 'Acme next'));
    git('commit', '-q', '-am', 'Acme next');
    await liveAfter('git commit', displayNameIs('acme', 'Acme next'));
    git('checkout', '-q', committed);
    await liveAfter('git checkout', displayNameIs('acme', 'Acme committed'));
  });

  it('folds a burst of changes into few passes, and a pass (its git commands included) triggers none', async () => {
    await controller.loop.idle();
    const before = controller.loop.passes;
    for (let i = 0; i < 10; i++) await writeFile(join(dir, 'partners', `burst-${i}.yaml`), organization(`burst-${i}`, `Burst ${i}`));
    // Creating ten organizations is itself most of this time.
    await liveAfter('a burst of new files', displayNameIs('burst-9', 'Burst 9'), 8000);
    await controller.loop.idle();
    const afterBurst = controller.loop.passes;
    expect(afterBurst - before).toBeLessThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 1000));
    expect(controller.loop.passes).toBe(afterBurst);
  });
});

describe('directory source: the watch starts before its folders are all watched', () => {
  it('still reports a save made in a subfolder at once after watch() returns, before its folder is watched', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'deep', 'er'), { recursive: true });
    await writeFile(join(root, 'deep', 'er', 'acme.yaml'), organization('acme', 'Acme 1'));
    let changes = 0;
    const unwatch = new DirectorySource({ dir: root }).watch(() => changes++, 50);
    try {
      // In the same turn of the event loop: the walk that watches deep/er has not listed it yet.
      const temp = join(root, 'deep', 'er', '.acme.swp');
      writeFileSync(temp, organization('acme', 'Acme 2'));
      renameSync(temp, join(root, 'deep', 'er', 'acme.yaml'));
      await pollUntil(
        async () => changes > 0,
        LIVE_WITHIN_MS,
        () => 'the save went unseen',
      );
    } finally {
      unwatch();
    }
  });
});

describe('directory source: a file caught half-saved', () => {
  it('is read again once the tree is still, so a save in place never reads as its objects deleted', async () => {
    const root = await tempDir();
    const file = join(root, 'acme.yaml');
    await writeFile(file, organization('acme', 'Acme 1'));
    const source = new DirectorySource({ dir: root, git: false });
    expect((await source.read()).objects).toHaveLength(1);
    // An editor saving in place: the file is empty for a moment, then written.
    writeFileSync(file, '');
    const reading = source.read();
    setTimeout(() => writeFileSync(file, organization('acme', 'Acme 2')), 60);
    const { objects } = await reading;
    expect(objects.map((o) => (o.object as OrganizationObject).spec.displayName)).toEqual(['Acme 2']);
  });
});
