// The notification outbox's delivery: retries with exponential backoff against a real SMTP
// server that refuses for a while, two replicas never sending one message twice, the audit
// of each delivery (the recipient as a keyed hash), the signed webhook channel (SMS, voice)
// behind the SSRF guard, and, without any channel, messages held for the admin API and the CLI
// (partner administrators see only their organizations'). Also: which changes write which message.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../../server/log.ts';
import { SmtpChannel, webhookSignature } from '../../../server/notifications/channels.ts';
import { NotificationDispatcher } from '../../../server/notifications/dispatcher.ts';
import { enqueue } from '../../../server/notifications/outbox.ts';
import { gatehouseInProcess } from '../../support/cli.ts';
import { NS, accessPolicy, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { CALLBACK, adminAs, setPassword, signIn } from '../../support/sign-in.ts';
import { startMailbox, type Mailbox } from '../../support/smtp.ts';

let gh: TestServer;
let mailbox: Mailbox;
const base = `/admin/v1/namespaces/${NS}`;
const PASSWORD = 'correct horse battery staple';

const dispatchers: NotificationDispatcher[] = [];
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
});

/** A dispatcher of its own on the test server's store (a replica), with the test's clock; stopped after the test. */
function dispatcher(options: Partial<ConstructorParameters<typeof NotificationDispatcher>[0]> = {}) {
  return remember(new NotificationDispatcher({ store: gh.store, clock: gh.clock, logger: silentLogger, secret: (ns, ref) => gh.gatehouse.upstreamSecrets.value(ns, ref), pseudonymKey: 'test pseudonym key', ...options }));
}

function remember(d: NotificationDispatcher): NotificationDispatcher {
  dispatchers.push(d);
  return d;
}

async function message(to: string, organization = 'cascade') {
  return gh.store.transaction((repo) => enqueue(repo, { namespace: NS, organization, message: 'password-changed', to, variables: { changedAt: 'just now' } }, gh.clock.now()));
}

beforeAll(async () => {
  mailbox = await startMailbox();
  gh = await startTestServer();
  await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
  await gh.put('organizations', organization('cascade', { displayName: 'Cascade Consulting' }));
});
afterAll(async () => {
  await gh?.close();
  await mailbox?.close();
});

describe('delivery by SMTP', () => {
  it('retries a refused message with exponential backoff, then sends it once and audits it with a keyed hash of the recipient', async () => {
    mailbox.refuse(2);
    const d = dispatcher({ smtp: new SmtpChannel(mailbox.url, 'id@blixit.example'), backoffMs: 1000 });
    const id = await message('retry@cascade.example');
    const start = gh.clock.now();
    await d.tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'pending', attempts: 1, nextAttemptAt: start + 1000, lastError: expect.stringContaining('451') });
    await d.tick(); // not due yet
    expect((await gh.store.notifications.find(id))?.attempts).toBe(1);
    gh.clock.advance(1000);
    await d.tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'pending', attempts: 2, nextAttemptAt: start + 1000 + 2000 });
    gh.clock.advance(2000);
    await d.tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'sent', attempts: 3, channel: 'smtp', lastError: null });
    await mailbox.next((m) => JSON.stringify(m.to).includes('retry@cascade.example'));
    expect(mailbox.messages.filter((m) => JSON.stringify(m.to).includes('retry@cascade.example'))).toHaveLength(1);
    const audit = (await gh.admin('GET', `/admin/v1/audit?namespace=${NS}&action=notification.sent`)).body.items;
    const record = audit.find((r: { data: { id: string } }) => r.data.id === id);
    expect(record).toMatchObject({ actor: 'gatehouse:notifications', organization: 'cascade', outcome: 'success', data: { message: 'password-changed', channels: 'smtp', attempts: 3, recipient: expect.stringMatching(/^hmac-sha256:[0-9a-f]{32}$/) } });
    expect(JSON.stringify(audit)).not.toContain('retry@cascade.example');
  });

  it('gives up after the last attempt, audited as notification.failed', async () => {
    const d = dispatcher({ smtp: new SmtpChannel('smtp://127.0.0.1:9?tls=off', 'id@blixit.example'), backoffMs: 10, maxAttempts: 2 });
    const id = await message('nowhere@cascade.example');
    await d.tick();
    gh.clock.advance(10);
    await d.tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'failed', attempts: 2, lastError: expect.stringContaining('ECONNREFUSED') });
    const failed = (await gh.admin('GET', `/admin/v1/audit?namespace=${NS}&action=notification.failed`)).body.items;
    expect(failed.find((r: { data: { id: string } }) => r.data.id === id)).toMatchObject({ outcome: 'failure', data: { attempts: 2 } });
  });

  it('sends each message once when two replicas dispatch at the same moment', async () => {
    const before = mailbox.messages.length;
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => message(`race${i}@cascade.example`)));
    const replicas = [dispatcher({ smtp: new SmtpChannel(mailbox.url, 'id@blixit.example'), batch: 3 }), dispatcher({ smtp: new SmtpChannel(mailbox.url, 'id@blixit.example'), batch: 3 })];
    await Promise.all(replicas.map((r) => r.tick()));
    for (const id of ids) expect((await gh.store.notifications.find(id))?.state).toBe('sent');
    const got = mailbox.messages.slice(before).map((m) => m.to && JSON.stringify(m.to));
    expect(got).toHaveLength(12);
    expect(new Set(got).size).toBe(12);
  });
});

describe('the signed webhook channel (SMS, voice)', () => {
  let hook: Server;
  let url: string;
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/sms`;
    expect((await gh.admin('PUT', `${base}/secrets/sms-gateway`, { data: { hmac: 'webhook signing secret 0123456789' } })).status).toBeLessThan(300);
    await gh.put('workspaces', workspace({ displayName: 'Blixit', notifications: { webhook: { url, secretRef: { name: 'sms-gateway', key: 'hmac' } } } }));
  });
  afterAll(async () => {
    await gh.put('workspaces', workspace({ displayName: 'Blixit' }));
    await new Promise((resolve) => hook.close(resolve));
  });

  it('POSTs each message as JSON, signed with HMAC-SHA256 over the timestamp and the body (the declared url, the secret by secretRef)', async () => {
    const id = await message('sms@cascade.example');
    await dispatcher({ fetch: { allowLoopbackHttp: true } }).tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'sent', channel: 'webhook' });
    const got = received.find((r) => r.body.includes(id))!;
    const timestamp = String(got.headers['x-gatehouse-timestamp']);
    expect(Number(timestamp)).toBe(Math.floor(gh.clock.now() / 1000));
    expect(got.headers['x-gatehouse-signature']).toBe(webhookSignature('webhook signing secret 0123456789', timestamp, got.body));
    expect(got.headers['x-gatehouse-signature']).not.toBe(webhookSignature('another secret', timestamp, got.body));
    expect(JSON.parse(got.body)).toMatchObject({ id, message: 'password-changed', namespace: NS, organization: 'cascade', to: 'sms@cascade.example', language: 'en', subject: 'Your Cascade Consulting password was changed', text: expect.stringContaining('just now') });
  });

  it('never reaches a loopback or private address outside tests (the SSRF guard of every server-side fetch)', async () => {
    const id = await message('ssrf@cascade.example');
    await dispatcher().tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'pending', lastError: expect.stringMatching(/^webhook: .*(https|loopback|private)/) });
    expect(received.some((r) => r.body.includes(id))).toBe(false);
  });

  it('retries when the secret it names does not exist, naming the reference', async () => {
    await gh.put('workspaces', workspace({ displayName: 'Blixit', notifications: { webhook: { url, secretRef: { name: 'missing', key: 'hmac' } } } }));
    const id = await message('nosecret@cascade.example');
    await dispatcher({ fetch: { allowLoopbackHttp: true } }).tick();
    expect(await gh.store.notifications.find(id)).toMatchObject({ state: 'pending', lastError: "webhook: the webhook's secret missing/hmac does not exist" });
  });
});

describe('without a channel: held, readable through the admin API and the CLI', () => {
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    // Drain what earlier blocks left pending, so this block reads only its own messages.
    await gh.store.driver.run(`DELETE FROM notifications`);
    const consoleClient = (name: string, org: string) => ({ ...client(name, org, { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }), metadata: { name, namespace: NS, annotations: { 'gatehouse.dev/admin-console': 'true' } } });
    await gh.put('organizations', organization('forge', { displayName: 'Forge' }));
    for (const org of ['cascade', 'forge']) {
      await gh.put('idpconnections', idp(`${org}-directory`, org, { type: 'directory', oidc: undefined }));
      await gh.put('clients', consoleClient(`${org}-console`, org));
    }
    await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }));
    await gh.put('users', user('fred', 'forge', { email: 'fred@forge.example', roles: ['organization-admin'] }));
    await gh.put('users', user('pat', 'cascade', { email: 'pat@cascade.example' }));
    for (const [name, org] of [
      ['ana', 'cascade'],
      ['fred', 'forge'],
    ] as const) {
      const secret = (await gh.admin('POST', `${base}/clients/${org}-console/secret`)).body.clientSecret;
      await setPassword(gh, name, PASSWORD);
      tokens[name] = (await signIn(gh, org, `${org}-console`, secret, { email: `${name}@${org}.example`, password: PASSWORD })).access_token;
    }
  }, 60_000);

  it('prints each held message with its link (the console of npm start) and keeps the link for the admin API', async () => {
    await gh.store.driver.run(`DELETE FROM notifications`);
    const lines: string[] = [];
    const link = await gh.admin('POST', `${base}/users/pat/password-link`);
    await dispatcher({ onHeld: (l) => lines.push(l) }).tick();
    expect(lines).toEqual([`notification for pat@cascade.example: You are invited to Cascade Consulting ${link.body.url}`]);
    const listed = await gh.admin('GET', `${base}/notifications`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ organization: 'cascade', message: 'invitation', to: 'pat@cascade.example', state: 'held', channels: 'none', link: link.body.url, subject: 'You are invited to Cascade Consulting', text: expect.stringContaining(link.body.url) })]);
  });

  it("shows a partner administrator only its organization's messages, and refuses another organization's", async () => {
    await gh.admin('POST', `${base}/users/fred/password-link`);
    const ana = await adminAs(gh, tokens.ana!)('GET', `${base}/notifications`);
    expect(ana.status).toBe(200);
    expect(new Set(ana.body.items.map((n: { organization: string }) => n.organization))).toEqual(new Set(['cascade']));
    const fred = await adminAs(gh, tokens.fred!)('GET', `${base}/notifications`);
    expect(fred.body.items.map((n: { to: string }) => n.to)).toEqual(['fred@forge.example']);
    expect((await adminAs(gh, tokens.ana!)('GET', `${base}/notifications?organization=forge`)).status).toBe(403);
    expect((await gh.admin('GET', `${base}/notifications?state=bogus`)).status).toBe(400);
  });

  it('`gatehouse notifications list` prints them with their links', async () => {
    const run = await gatehouseInProcess(['notifications', 'list', '--namespace', NS, '--organization', 'forge', '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(run.code).toBe(0);
    // Fred has a password already: a new link is a reset.
    expect(run.stdout).toMatch(/pending\s+password-reset\s+forge\s+fred@forge\.example/);
    expect(run.stdout).toContain('/account/password?token=');
    const json = await gatehouseInProcess(['notifications', 'list', '--namespace', NS, '--json', '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).to),
    ).toEqual(expect.arrayContaining(['fred@forge.example', 'pat@cascade.example']));
  });
});

describe('the changes that write messages', () => {
  const latest = async (to: string) => (await gh.store.notifications.list(NS)).find((n) => n.recipient === to);

  it("an administrator resetting a user's MFA tells the user", async () => {
    // Enrolled or not, the reset is audited; the user hears of one that removed a factor.
    await gh.store.secrets.put('totp', `${NS}/pat`, 'sealed', gh.clock.now());
    const res = await gh.admin('POST', `${base}/organizations/cascade/users/pat/reset-mfa`);
    expect(res.status).toBe(200);
    expect(await latest('pat@cascade.example')).toMatchObject({ message: 'mfa-reset', userId: 'pat', variables: expect.objectContaining({ resetBy: 'admin-token:bootstrap' }) });
  });

  it('erasing a user erases the messages about it', async () => {
    const invited = await gh.admin('POST', `${base}/organizations/cascade/users`, { email: 'temp@cascade.example' });
    expect(invited.status).toBe(201);
    expect(await latest('temp@cascade.example')).toMatchObject({ message: 'invitation', userId: invited.body.user.id });
    expect((await gh.admin('DELETE', `${base}/organizations/cascade/users/${invited.body.user.id}`)).status).toBe(200);
    expect(await latest('temp@cascade.example')).toBeUndefined();
  });

  it("deprovisioning a user tells its organization's administrators", async () => {
    const res = await gh.admin('POST', `${base}/deprovision`, { user: 'pat', reason: 'left the project' });
    expect(res.status).toBe(200);
    expect(await latest('ana@cascade.example')).toMatchObject({ message: 'user-deprovisioned', organization: 'cascade', variables: expect.objectContaining({ userEmail: 'pat@cascade.example', reason: 'left the project' }) });
    expect((await gh.store.notifications.list(NS)).filter((n) => n.message === 'user-deprovisioned').map((n) => n.recipient)).toEqual(['ana@cascade.example']);
  });

  it("a contract ending tells its owner at the Workspace's contractWarning and again 7 days before", async () => {
    await gh.put('workspaces', workspace({ displayName: 'Blixit', lifecycle: { contractWarning: '30d' } }));
    const endsAt = new Date(gh.clock.now() + 20 * 86400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await gh.put('organizations', organization('forge', { displayName: 'Forge', contract: { id: 'C-F', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt } }));
    const count = async () => (await gh.store.notifications.list(NS)).filter((n) => n.message === 'contract-ending' && n.organization === 'forge').length;
    await gh.gatehouse.lifecycle.tick();
    expect(await count()).toBe(1);
    await gh.gatehouse.lifecycle.tick();
    expect(await count()).toBe(1);
    gh.clock.advance(14 * 86400_000); // 6 days left
    await gh.gatehouse.lifecycle.tick();
    await gh.gatehouse.lifecycle.tick();
    expect(await count()).toBe(2);
    expect(await latest('owner@blixit.example')).toMatchObject({ message: 'contract-ending', organization: 'forge', variables: expect.objectContaining({ contractId: 'C-F', endsAt, remaining: 'in 5 days' }) });
  });

  it('an access request tells its approvers, and its decision tells the requester', async () => {
    void accessPolicy;
    const r = await gh.store.transaction(async (repo) => {
      const made = await repo.accessRequests.create({ namespace: NS, id: 'ar-000000000000000001', organization: 'cascade', userId: 'ana', clientId: 'cascade-console', scopes: ['orders:write'], justification: null, createdAt: gh.clock.now() });
      return made;
    });
    const { notifyDecision } = await import('../../../server/governance/access-requests.ts');
    await gh.store.transaction((repo) => notifyDecision(repo, r, 'approved', 'user:approver', gh.clock.now()));
    expect(await latest('ana@cascade.example')).toMatchObject({ message: 'access-request-decided', variables: expect.objectContaining({ decision: 'approved', scopes: 'orders:write', decidedBy: 'user:approver' }) });
  });
});
