// Notifications by email, end to end: a real SMTP server on loopback (smtp-server) receives
// what the outbox sends, mailparser reads it as a mail client would, and Chromium follows the
// link to the end of the flow — an invitation to a first sign-in, and a forgotten password
// (the sign-in page's "Forgot password?") to a new one, which ends the user's sessions and
// sends "password changed". The reset page answers alike for known and unknown addresses.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NS, client, idp, organization, user, workspace } from '../../support/objects.ts';
import { CALLBACK } from '../../support/sign-in.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { linkIn, startMailbox, type Mailbox } from '../../support/smtp.ts';

const CHROMIUM = '/usr/bin/chromium';
const withBrowser = existsSync(CHROMIUM) ? describe : describe.skip;
if (!existsSync(CHROMIUM)) console.warn(`SKIPPED: the email flows need Chromium at ${CHROMIUM}`);

const LOGO = `data:image/png;base64,${Buffer.from('not really a png, but bytes').toString('base64')}`;
let gh: TestServer;
let mailbox: Mailbox;
let browser: Browser;
const issuer = () => `${gh.url}/${NS}/cascade`;

function authorizeUrl(): string {
  const q = new URLSearchParams({ client_id: `cascade-web.${NS}`, redirect_uri: CALLBACK, response_type: 'code', scope: 'openid email', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st' });
  return `${issuer()}/auth?${q}`;
}

async function page(): Promise<Page> {
  const context = await browser.newContext();
  await context.route(`${CALLBACK}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' }));
  return context.newPage();
}

/** Goes to the sign-in page of the client (email first, then the password form). */
async function toPasswordForm(p: Page, email: string): Promise<void> {
  await p.goto(authorizeUrl());
  if ((await p.locator('input[name=email]').count()) === 0) throw new Error(`no sign-in form: ${await p.content()}`);
  if ((await p.locator('input[name=password]').count()) === 0) {
    await p.fill('input[name=email]', email);
    await p.click('button[type=submit]');
  }
  await p.locator('input[name=password]').waitFor();
}

async function signIn(p: Page, email: string, password: string): Promise<void> {
  await toPasswordForm(p, email);
  if ((await p.locator('input[name=email]').count()) > 0) await p.fill('input[name=email]', email);
  await p.fill('input[name=password]', password);
  await p.click('button[type=submit]');
  await p.waitForURL(`${CALLBACK}**`);
}

/** Sends what the outbox holds now and returns the next mail to `to` matching `subject`. */
async function mailTo(to: string, subject: RegExp) {
  await gh.gatehouse.notifications.tick();
  return mailbox.next((m) => m.to !== undefined && JSON.stringify(m.to).includes(to) && subject.test(m.subject ?? ''));
}

beforeAll(async () => {
  mailbox = await startMailbox();
  gh = await startTestServer({ now: new Date().toISOString(), trustedProxies: ['127.0.0.1/32'], notifications: { smtpUrl: mailbox.url, from: 'Blixit Identity <id@blixit.example>' } });
  await gh.put('workspaces', workspace({ displayName: 'Blixit', notifications: { templates: { invitation: { subject: 'Welcome to {{organizationName}}, {{recipientName}}' } } } }));
  await gh.put(
    'organizations',
    organization('cascade', {
      displayName: 'Cascade Consulting',
      branding: { primaryColor: '#7a1f5c', logo: LOGO },
      notifications: { templates: { 'password-reset': { language: 'de', subject: 'Neues Passwort für {{organizationName}}', text: 'Hallo {{recipientName}}, hier ist der Link ({{expiresInMinutes}} Minuten gültig): {{link}}' } } },
    }),
  );
  await gh.put('idpconnections', idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }));
  await gh.put('clients', client('cascade-web', 'cascade', { redirectUris: [CALLBACK], scopes: ['openid', 'email'] }));
  await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-web/secret`);
  await gh.put('users', user('ana', 'cascade', { email: 'ana@cascade.example', displayName: 'Ana <Müller>' }));
  await gh.put('users', user('bo', 'cascade', { email: 'bo@cascade.example' }));
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gh?.close();
  await mailbox?.close();
});

withBrowser('email notifications in Chromium', () => {
  it('invitation: the mail (text and HTML, branded, the Workspace subject) leads to setting a password and signing in', async () => {
    const made = await gh.admin('POST', `/admin/v1/namespaces/${NS}/users/ana/password-link`);
    expect(made.status).toBe(201);
    const mail = await mailTo('ana@cascade.example', /^Welcome to Cascade Consulting/);
    // The Workspace's subject; the display name is a value, not markup, in both parts.
    expect(mail.subject).toBe('Welcome to Cascade Consulting, Ana <Müller>');
    expect(mail.from?.value).toEqual([{ name: 'Blixit Identity', address: 'id@blixit.example' }]);
    expect(mail.headers.get('content-language')).toBe('en');
    expect(mail.text).toContain('Hello Ana <Müller>,');
    expect(mail.html).toContain('Hello Ana &lt;Müller&gt;,');
    expect(mail.html).not.toContain('<Müller>');
    // Branded: the organization's colour and its logo, inline (cid:), not a data: URI mail clients block.
    expect(mail.html).toContain('#7a1f5c');
    expect(mail.html).toContain('src="cid:logo"');
    expect(mail.attachments.map((a) => [a.cid, a.contentType, a.content.toString()])).toEqual([['logo', 'image/png', 'not really a png, but bytes']]);
    const link = linkIn(mail);
    expect(link).toBe(made.body.url);

    const p = await page();
    await p.goto(link);
    await p.fill('input[name=password]', 'ana first password 2026');
    await p.click('button[type=submit]');
    await expect(p.locator('h1').textContent()).resolves.toBe('Password set');
    await signIn(p, 'ana@cascade.example', 'ana first password 2026');
    expect(p.url()).toMatch(new RegExp(`^${CALLBACK}\\?code=`));
    await p.context().close();
  }, 60_000);

  it('forgot password: from the sign-in page to the mail, a new password, every session ended, and "password changed"', async () => {
    const p = await page();
    await signIn(p, 'ana@cascade.example', 'ana first password 2026');
    // A second browser, elsewhere, where Ana forgot it.
    const q = await page();
    await toPasswordForm(q, 'ana@cascade.example');
    await q.click('#forgot-password');
    await q.fill('input[name=email]', 'ana@cascade.example');
    await q.click('button[type=submit]');
    await expect(q.locator('#notice').textContent()).resolves.toMatch(/If an account with a password exists for this address/);

    // The organization's own template: German, its subject and text.
    const mail = await mailTo('ana@cascade.example', /^Neues Passwort/);
    expect(mail.subject).toBe('Neues Passwort für Cascade Consulting');
    expect(mail.headers.get('content-language')).toBe('de');
    expect(mail.text).toMatch(/^Hallo Ana <Müller>, hier ist der Link \(15 Minuten gültig\): http/);
    const link = linkIn(mail);
    expect(link.startsWith(`${issuer()}/account/password?token=`)).toBe(true);

    await q.goto(link);
    await q.fill('input[name=password]', 'ana second password 2026');
    await q.click('button[type=submit]');
    await expect(q.locator('h1').textContent()).resolves.toBe('Password set');
    const changed = await mailTo('ana@cascade.example', /password was changed/);
    expect(changed.text).toMatch(/every session was signed out/);

    // Used once: the same link again is refused.
    await q.goto(link);
    await expect(q.locator('h1').textContent()).resolves.toBe('Link expired');
    // The first browser's session ended: the client's next sign-in asks for the password again.
    await p.goto(authorizeUrl());
    await expect(p.locator('input[name=password], input[name=email]').first().isVisible()).resolves.toBe(true);
    expect(p.url().startsWith(CALLBACK)).toBe(false);
    // The old password no longer works; the new one does.
    await signIn(q, 'ana@cascade.example', 'ana second password 2026');
    await p.context().close();
    await q.context().close();
  }, 60_000);
});

describe('POST {issuer}/password/forgot', () => {
  const forgot = (email: string, from: string) => fetch(`${issuer()}/password/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': from }, body: new URLSearchParams({ email }).toString() });

  it('answers the same page and status for a known and an unknown address, and mails only the known one', async () => {
    const before = mailbox.messages.length;
    const known = await forgot('bo@cascade.example', '198.51.100.1');
    const unknown = await forgot('nobody@cascade.example', '198.51.100.2');
    expect([known.status, unknown.status]).toEqual([200, 200]);
    expect(await known.text()).toBe(await unknown.text());
    await gh.gatehouse.notifications.tick();
    await mailbox.next((m) => JSON.stringify(m.to).includes('bo@cascade.example'));
    expect(mailbox.messages.slice(before).map((m) => m.to && JSON.stringify(m.to).includes('nobody'))).not.toContain(true);
    // The audit says which, the unknown address only as a keyed hash.
    const records = (await gh.admin('GET', `/admin/v1/audit?namespace=${NS}&action=user.password-reset-requested`)).body.items as { outcome: string; data: Record<string, unknown> }[];
    const refused = records.find((r) => r.outcome === 'refused' && r.data.reason === 'unknown-address');
    expect(String(refused?.data.address)).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
    expect(JSON.stringify(records)).not.toContain('nobody@cascade.example');
  });

  it('shows the timing of known and unknown addresses (the same work either way; printed, not asserted)', async () => {
    const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] };
    for (let i = 0; i < 15; i++) {
      await gh.put('users', user(`t${i}`, 'cascade', { email: `t${i}@cascade.example` }));
    }
    for (let i = 0; i < 15; i++) {
      for (const kind of i % 2 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
        const email = kind === 'known' ? `t${i}@cascade.example` : `ghost${i}@cascade.example`;
        const started = performance.now();
        const res = await forgot(email, `203.0.113.${i * 2 + (kind === 'known' ? 0 : 1)}`);
        await res.text();
        times[kind].push(performance.now() - started);
        expect(res.status).toBe(200);
      }
    }
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2);
    const row = (k: 'known' | 'unknown') => `${k.padEnd(8)} n=${times[k].length} p10=${pct(times[k], 10)} p50=${pct(times[k], 50)} p90=${pct(times[k], 90)} max=${pct(times[k], 100)} ms`;
    console.log(`password/forgot response times (ms), alternating order:\n${row('known')}\n${row('unknown')}`);
    expect(times.known).toHaveLength(15);
  }, 60_000);

  it('is rate-limited per address (3 in 15 minutes) and per client address (20), whether or not the account exists', async () => {
    for (let i = 0; i < 3; i++) expect((await forgot('ghost@cascade.example', `192.0.2.${10 + i}`)).status).toBe(200);
    const limited = await forgot('ghost@cascade.example', '192.0.2.50');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('900');
    for (let i = 0; i < 20; i++) expect((await forgot(`spray${i}@cascade.example`, '192.0.2.99')).status).toBe(200);
    expect((await forgot('spray-last@cascade.example', '192.0.2.99')).status).toBe(429);
  });

  it('makes a link that works for 15 minutes only', async () => {
    await gh.put('users', user('cy', 'cascade', { email: 'cy@cascade.example' }));
    expect((await forgot('cy@cascade.example', '198.51.100.77')).status).toBe(200);
    const mail = await mailTo('cy@cascade.example', /Neues Passwort/);
    const link = linkIn(mail);
    expect((await fetch(link)).status).toBe(200);
    gh.clock.advance(15 * 60 * 1000 + 1000);
    expect((await fetch(link)).status).toBe(410);
  });

  it("works at the workspace's shared issuer too, for a directory user of any organization", async () => {
    const res = await fetch(`${gh.url}/${NS}/password/forgot`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.90' }, body: new URLSearchParams({ email: 'bo@cascade.example' }).toString() });
    expect(res.status).toBe(200);
    await gh.gatehouse.notifications.tick();
    const mail = await mailbox.next((m) => JSON.stringify(m.to).includes('bo@cascade.example') && linkIn(m).startsWith(`${gh.url}/${NS}/account/password?token=`));
    expect((await fetch(linkIn(mail))).status).toBe(200);
  });

  it('is not offered where the organization signs in with its own IdP', async () => {
    await gh.put('organizations', organization('forge', { displayName: 'Forge' }));
    await gh.put('idpconnections', idp('forge-oidc', 'forge'));
    const res = await fetch(`${gh.url}/${NS}/forge/password/forgot`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('signs in with its own identity provider');
  });
});
