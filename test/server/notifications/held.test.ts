// Held messages go out when a channel appears later: a server without SMTP holds what it writes;
// restarted on the same data with GATEHOUSE_SMTP_URL (a real smtp-server on loopback), it sends
// what is still useful and never what is not — a reset link past its 15 minutes, an invitation
// past its expiry, a link replaced by a newer one — which are marked expired, their links
// redacted, and audited. A Workspace that declares a webhook later has its held messages posted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NS, idp, organization, user, workspace } from '../../support/objects.ts';
import { setPassword } from '../../support/sign-in.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { linkIn, startMailbox, type Mailbox } from '../../support/smtp.ts';
import { enqueue } from '../../../server/notifications/outbox.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.parse('2026-11-23T09:00:00Z');
const base = `/admin/v1/namespaces/${NS}`;

let dataDir: string;
let mailbox: Mailbox;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-held-'));
  mailbox = await startMailbox();
});
afterAll(async () => {
  await mailbox?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const forgot = (gh: TestServer, email: string) => fetch(`${gh.url}/${NS}/cascade/password/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ email }).toString() });
const byRecipient = async (gh: TestServer) => Object.fromEntries((await gh.store.notifications.list(NS)).map((n) => [`${n.message} ${n.recipient}`, n]));
const sentTo = (to: string) => mailbox.messages.filter((m) => JSON.stringify(m.to).includes(to));

describe('held without SMTP, sent after a restart with it', () => {
  const links: Record<string, string> = {};

  it('holds every message while the server has no channel', async () => {
    const gh = await startTestServer({ dataDir, now: new Date(T0).toISOString() });
    try {
      await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
      await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
      await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
      for (const name of ['ana', 'ben', 'cara', 'dan', 'eve']) await gh.put('users', user(name, 'cascade', { email: `${name}@cascade.example` }));
      await setPassword(gh, 'ana', 'ana first password 2026');
      await setPassword(gh, 'ben', 'ben first password 2026');
      // Each message is due (and held) as soon as it is written.
      const held = () => gh.gatehouse.notifications.tick();
      await held();
      // T0: Cara's invitation (a day), and Eve's.
      links.cara = (await gh.admin('POST', `${base}/users/cara/password-link`)).body.url;
      links.eveOld = (await gh.admin('POST', `${base}/users/eve/password-link`)).body.url;
      await held();
      // T0+23h: Dan's invitation, and Eve's again (a newer link ends the older one).
      gh.clock.advance(23 * HOUR);
      links.dan = (await gh.admin('POST', `${base}/users/dan/password-link`)).body.url;
      links.eve = (await gh.admin('POST', `${base}/users/eve/password-link`)).body.url;
      await held();
      // T0+24h30m: Ben resets his password (15 minutes); T0+25h: Ana does, and is told of an MFA reset.
      gh.clock.advance(90 * MINUTE);
      expect((await forgot(gh, 'ben@cascade.example')).status).toBe(200);
      await held();
      gh.clock.advance(30 * MINUTE);
      expect((await forgot(gh, 'ana@cascade.example')).status).toBe(200);
      await gh.store.secrets.put('totp', `${NS}/ana`, 'sealed', gh.clock.now());
      expect((await gh.admin('POST', `${base}/organizations/cascade/users/ana/reset-mfa`)).status).toBe(200);
      await held();
      const rows = await gh.store.notifications.list(NS);
      // setPassword's own links were used at once: Ana's and Ben's invitations were useless when due.
      expect(
        rows
          .filter((n) => n.state === 'held')
          .map((n) => `${n.message} ${n.recipient}`)
          .sort(),
      ).toEqual(['invitation cara@cascade.example', 'invitation dan@cascade.example', 'invitation eve@cascade.example', 'invitation eve@cascade.example', 'mfa-reset ana@cascade.example', 'password-reset ana@cascade.example', 'password-reset ben@cascade.example']);
      expect(
        rows
          .filter((n) => n.state === 'expired')
          .map((n) => `${n.message} ${n.recipient}`)
          .sort(),
      ).toEqual(['invitation ana@cascade.example', 'invitation ben@cascade.example']);
      expect(mailbox.messages).toHaveLength(0);
    } finally {
      await gh.close();
    }
  }, 60_000);

  it('restarted with SMTP five minutes later, sends what is still useful, once, and expires the rest unsent', async () => {
    const gh = await startTestServer({ dataDir, now: new Date(T0 + 25 * HOUR + 5 * MINUTE).toISOString(), notifications: { smtpUrl: mailbox.url, from: 'id@blixit.example' } });
    try {
      await gh.gatehouse.notifications.tick();
      await mailbox.next((m) => JSON.stringify(m.to).includes('dan@cascade.example'));
      const rows = await byRecipient(gh);
      // Still useful: Dan's invitation and Eve's newest (2h old), Ana's reset (5 minutes old), the MFA notice.
      for (const key of ['invitation dan@cascade.example', 'password-reset ana@cascade.example', 'mfa-reset ana@cascade.example']) expect({ key, state: rows[key]?.state, channel: rows[key]?.channel }).toEqual({ key, state: 'sent', channel: 'smtp' });
      expect(linkIn(sentTo('dan@cascade.example')[0]!)).toBe(links.dan);
      expect(
        sentTo('ana@cascade.example')
          .map((m) => m.subject)
          .sort(),
      ).toEqual(['Reset your Cascade Consulting password', 'Your Cascade Consulting two-step verification was reset'].sort());
      const eve = (await gh.store.notifications.list(NS)).filter((n) => n.recipient === 'eve@cascade.example');
      expect(eve.map((n) => n.state).sort()).toEqual(['expired', 'sent']);
      expect(sentTo('eve@cascade.example').map(linkIn)).toEqual([links.eve]);
      // Useless: Cara's invitation (25h old, its link expired after 24h), Eve's first (replaced), Ben's reset (35 minutes old, 15 allowed).
      expect(rows['invitation cara@cascade.example']).toMatchObject({ state: 'expired', sentAt: null, variables: expect.objectContaining({ link: '(redacted: expired)' }), lastError: expect.stringContaining('no longer works') });
      expect(rows['password-reset ben@cascade.example']).toMatchObject({ state: 'expired', variables: expect.objectContaining({ link: '(redacted: expired)' }) });
      expect(sentTo('cara@cascade.example')).toEqual([]);
      expect(sentTo('ben@cascade.example')).toEqual([]);
      const expired = (await gh.admin('GET', `/admin/v1/audit?namespace=${NS}&action=notification.expired&limit=100`)).body.items as { subject: string; outcome: string; data: { message: string; error: string } }[];
      expect(expired.map((r) => `${r.data.message} ${r.subject}`).sort()).toEqual(['invitation ana', 'invitation ben', 'invitation cara', 'invitation eve', 'password-reset ben']);
      expect(JSON.stringify(expired)).not.toContain('cascade.example');
      // Listed by state through the admin API; the expired links are not shown.
      const listed = await gh.admin('GET', `${base}/notifications?state=expired`);
      expect(listed.body.items).toHaveLength(5);
      expect(JSON.stringify(listed.body)).not.toContain('token=');
      // Sent once: later ticks send nothing again.
      const count = mailbox.messages.length;
      gh.clock.advance(MINUTE);
      await gh.gatehouse.notifications.tick();
      expect(mailbox.messages).toHaveLength(count);
      // The link mailed works (on this server: the first one listened on another port).
      const mailed = new URL(linkIn(sentTo('ana@cascade.example').find((m) => m.subject?.startsWith('Reset'))!));
      const page = await fetch(`${gh.url}${mailed.pathname}${mailed.search}`);
      expect(page.status).toBe(200);
    } finally {
      await gh.close();
    }
  }, 60_000);
});

describe('held, then a Workspace declares a webhook', () => {
  let hook: Server;
  let url: string;
  const received: string[] = [];
  let gh: TestServer;
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/sms`;
    gh = await startTestServer({ notifications: { allowLoopbackHttp: true } });
  });
  afterAll(async () => {
    await gh?.close();
    await new Promise((resolve) => hook.close(resolve));
  });

  it('posts the held messages once the webhook is declared, at the next look (30 seconds)', async () => {
    await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
    await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
    await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
    await gh.put('users', user('fay', 'cascade', { email: 'fay@cascade.example' }));
    const link = (await gh.admin('POST', `${base}/users/fay/password-link`)).body.url;
    await gh.gatehouse.notifications.tick();
    expect((await gh.store.notifications.list(NS))[0]).toMatchObject({ state: 'held' });
    expect((await gh.admin('PUT', `${base}/secrets/sms-gateway`, { data: { hmac: 'webhook signing secret 0123456789' } })).status).toBeLessThan(300);
    await gh.put('workspaces', workspace({ displayName: 'Blixit', notifications: { webhook: { url, secretRef: { name: 'sms-gateway', key: 'hmac' } } } }));
    await gh.gatehouse.notifications.tick();
    expect(received).toHaveLength(0);
    gh.clock.advance(31_000);
    await gh.gatehouse.notifications.tick();
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!)).toMatchObject({ message: 'invitation', to: 'fay@cascade.example', text: expect.stringContaining(link) });
    expect((await gh.store.notifications.list(NS))[0]).toMatchObject({ state: 'sent', channel: 'webhook' });
  });

  it('does not ask an approver to decide a request that was decided while the message waited', async () => {
    await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
    const made = (id: string) =>
      gh.store.transaction(async (repo) => {
        await repo.accessRequests.create({ namespace: NS, id, organization: 'cascade', userId: 'fay', clientId: `crm.${NS}`, scopes: ['orders:admin'], justification: null, createdAt: gh.clock.now() });
        // As the access-request page writes it (server/oidc/access-request-page.ts).
        return enqueue(
          repo,
          { namespace: NS, organization: 'cascade', message: 'access-request-pending', to: 'olga@cascade.example', variables: { requester: 'fay@cascade.example', client: 'crm', scopes: 'orders:admin', justification: '(none yet)', link: `${gh.url}/${NS}/cascade/portal/access-requests/${id}` } },
          gh.clock.now(),
        );
      });
    const decided = await made('ar-0000000000000000d1');
    const open = await made('ar-0000000000000000d2');
    await gh.gatehouse.notifications.tick();
    expect((await gh.store.notifications.list(NS, { state: 'held' })).filter((n) => n.message === 'access-request-pending')).toHaveLength(2);
    // Another approver denied the first through the admin API meanwhile.
    await gh.store.accessRequests.decide(NS, 'ar-0000000000000000d1', { state: 'denied', at: gh.clock.now(), by: 'user:other', expiresAt: null });
    await gh.put('workspaces', workspace({ displayName: 'Blixit', notifications: { webhook: { url, secretRef: { name: 'sms-gateway', key: 'hmac' } } } }));
    gh.clock.advance(31_000);
    const before = received.length;
    await gh.gatehouse.notifications.tick();
    const posted = received.slice(before).map((b) => JSON.parse(b) as { text: string });
    expect(posted).toHaveLength(1);
    expect(posted[0]!.text).toContain('ar-0000000000000000d2');
    expect(await gh.store.notifications.find(open)).toMatchObject({ state: 'sent', channel: 'webhook' });
    expect(await gh.store.notifications.find(decided)).toMatchObject({ state: 'expired', lastError: 'the access request was denied meanwhile', variables: expect.objectContaining({ link: '(redacted: expired)' }) });
    expect(await gh.admin('GET', `/admin/v1/audit?action=notification.expired&limit=1`).then((r) => r.body.items[0])).toMatchObject({ data: { message: 'access-request-pending', error: 'the access request was denied meanwhile' } });
  });
});
