// One-time password links: the newest link for a user is the only one that works, so a link
// sent to a wrong or outdated address (or leaked from a mailbox) dies when a new one is made.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, organization, user, workspace } from '../../support/objects.ts';
import { Browser } from '../../support/browser.ts';

let gh: TestServer;
const newLink = async (name: string): Promise<string> => {
  const res = await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/${name}/password-link`);
  expect(res.status).toBe(201);
  return res.body.url;
};
const setWith = (url: string, password: string) => new Browser().submit(url, { password });

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  await gh.put('organizations', organization('forge'));
  await gh.put('users', user('lena', 'forge', { email: 'lena@forge.example' }));
  await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example' }));
});
afterAll(async () => {
  await gh.close();
});

describe('password links', () => {
  it('a newer link ends every older one of the same user, unused or not yet opened', async () => {
    const first = await newLink('lena');
    const second = await newLink('lena');
    const third = await newLink('lena');
    for (const old of [first, second]) {
      expect((await fetch(old)).status).toBe(410);
      expect((await setWith(old, 'an attacker chose this one')).status).toBe(410);
    }
    expect((await setWith(third, 'the one lena chose herself')).status).toBe(200);
    expect((await setWith(third, 'and once only, as before')).status).toBe(410);
  });

  it("leaves other users' links alone", async () => {
    const fred = await newLink('fred');
    await newLink('lena');
    expect((await setWith(fred, 'fred sets his own password')).status).toBe(200);
  });

  it('an old link stays dead after the newest is used', async () => {
    const old = await newLink('lena');
    const current = await newLink('lena');
    expect((await setWith(current, 'lena picks another one')).status).toBe(200);
    expect((await setWith(old, 'too late for this one')).status).toBe(410);
  });
});
