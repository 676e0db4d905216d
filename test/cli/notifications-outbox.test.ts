// The outbox as a running `gatehouse serve` keeps it: a server killed with SIGKILL after the
// change committed and while the message was being sent sends it after the restart, exactly
// once; and without GATEHOUSE_SMTP_URL each message's link is printed on the console, and the
// message is mailed once the server is restarted with it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openStore } from '../../server/store/index.ts';
import { gatehouse, type RunningCommand } from '../support/process.ts';
import { linkIn, startMailbox, type Mailbox } from '../support/smtp.ts';

const TOKEN = 'outbox-admin-token-0123456789abcdef';
const SECRET = 'outbox-secret-key-0123456789abcdefghijklmnop';
const NS = 'blixit-partners';
const apiVersion = 'gatehouse.dev/v1alpha1';

let root: string;
let mailbox: Mailbox;
const running: RunningCommand[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-outbox-'));
  mailbox = await startMailbox();
});
afterAll(async () => {
  for (const r of running) await r.stop('SIGKILL');
  await mailbox.close();
  await rm(root, { recursive: true, force: true });
});

async function start(dataDir: string, env: Record<string, string> = {}): Promise<{ serve: RunningCommand; url: string }> {
  const serve = gatehouse(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_ADMIN_TOKEN: TOKEN, GATEHOUSE_SECRET_KEY: SECRET, LOG_LEVEL: 'error', ...env });
  running.push(serve);
  const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)/, 30_000);
  return { serve, url: url! };
}

async function admin(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function declare(url: string) {
  const put = (plural: string, name: string, spec: object) => admin(url, 'PUT', `/namespaces/${NS}/${plural}/${name}`, { apiVersion, kind: { workspaces: 'Workspace', organizations: 'Organization', idpconnections: 'IdPConnection', users: 'User' }[plural], metadata: { name, namespace: NS }, spec });
  await put('workspaces', 'blixit', { displayName: 'Blixit' });
  await put('organizations', 'cascade', { displayName: 'Cascade Consulting', emailDomains: ['cascade.example'] });
  await put('idpconnections', 'cascade-directory', { organizationRef: { name: 'cascade' }, type: 'directory' });
  await put('users', 'ana', { organizationRef: { name: 'cascade' }, email: 'ana@cascade.example' });
}

describe('the outbox of a running server', () => {
  it('survives a kill -9 between the commit and the send: the message goes out after the restart, once', async () => {
    const dataDir = join(root, 'killed');
    const env = { GATEHOUSE_SMTP_URL: mailbox.url, GATEHOUSE_NOTIFICATION_LEASE_SECONDS: '2' };
    const first = await start(dataDir, env);
    expect(first.serve.output()).toContain('notifications: sent by email (GATEHOUSE_SMTP_URL)');
    expect(first.serve.output()).not.toContain(mailbox.url);
    await declare(first.url);
    // The SMTP server holds the first exchange open; the server is killed while it waits.
    const inFlight = mailbox.hold();
    const made = await admin(first.url, 'POST', `/namespaces/${NS}/users/ana/password-link`);
    await inFlight;
    first.serve.child.kill('SIGKILL');
    await first.serve.exit();
    expect(mailbox.messages).toHaveLength(0);

    // Committed with the link, leased by the dead process, not sent.
    const store = await openStore({ dataDir });
    const [row] = await store.notifications.list(NS);
    expect(row).toMatchObject({ message: 'invitation', recipient: 'ana@cascade.example', state: 'pending', attempts: 0 });
    await store.close();

    const second = await start(dataDir, env);
    const mail = await mailbox.next((m) => JSON.stringify(m.to).includes('ana@cascade.example'), 20_000);
    expect(linkIn(mail)).toBe(made.url);
    // Another lease period and two more ticks: nothing is sent again.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(mailbox.messages).toHaveLength(1);
    const listed = await admin(second.url, 'GET', `/namespaces/${NS}/notifications`);
    expect(listed.items).toEqual([expect.objectContaining({ message: 'invitation', state: 'sent', attempts: 1, channels: 'smtp' })]);
    // Sent, the link is the recipient's alone: the admin API no longer shows it.
    expect(JSON.stringify(listed)).not.toContain(made.url);
    const audit = await admin(second.url, 'GET', `/audit?namespace=${NS}&action=notification.sent`);
    expect(audit.items).toHaveLength(1);
    await second.serve.stop();
  }, 90_000);

  it('without GATEHOUSE_SMTP_URL, prints each message and its link on the console (npm start)', async () => {
    const { serve, url } = await start(join(root, 'held'));
    expect(serve.output()).toContain('notifications: held, no GATEHOUSE_SMTP_URL');
    await declare(url);
    const made = await admin(url, 'POST', `/namespaces/${NS}/users/ana/password-link`);
    await serve.waitFor(new RegExp(`notification for ana@cascade\\.example: You are invited to Cascade Consulting ${made.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 15_000);
    await serve.stop();

    // Restarted with GATEHOUSE_SMTP_URL: the held invitation, still useful, is mailed, once.
    const again = await start(join(root, 'held'), { GATEHOUSE_SMTP_URL: mailbox.url });
    const before = mailbox.messages.length;
    const mail = await mailbox.next((m) => (m.text ?? '').includes(made.url), 20_000);
    expect(mail.subject).toBe('You are invited to Cascade Consulting');
    expect(linkIn(mail)).toBe(made.url);
    const listed = await admin(again.url, 'GET', `/namespaces/${NS}/notifications`);
    expect(listed.items).toEqual([expect.objectContaining({ message: 'invitation', state: 'sent', channels: 'smtp' })]);
    expect(mailbox.messages.length - before).toBeLessThanOrEqual(1);
    await again.serve.stop();
  }, 90_000);
});
