import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { busyPortAdvice, demoPorts, movedOrigins, portBusy, relocate } from '../../demo/ports.ts';
import { Browser } from '../support/browser.ts';
import { nodeScript, type RunningCommand } from '../support/process.ts';
import { formAction, hiddenFields, text } from '../server/broker/flow.ts';

/**
 * `npm run demo` as a user meets it: started as its own process on free ports, signed in
 * to through its printed URL with a cookie-keeping browser, stopped with SIGTERM.
 */
let demo: RunningCommand;
let portal: string;
let peers: { gatehouse: string; forge: string; pinnacle: string };
/** Never matched: the browser follows every redirect to a page. */
const NOWHERE = 'nowhere:';

beforeAll(async () => {
  demo = nodeScript('demo/run.ts', [], { DEMO_PORT_BASE: '0' });
  portal = (await demo.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+)\/$/m, 25_000))[1]!;
  const [, gatehouse, forge, pinnacle] = demo.output().match(/Gatehouse (http:\/\/\S+), Forge IdP (http:\/\/\S+), Pinnacle IdP (http:\/\/[^\s)]+)\)/)!;
  peers = { gatehouse: gatehouse!, forge: forge!, pinnacle: pinnacle! };
}, 30_000);
afterAll(async () => {
  if (demo.child.exitCode === null) await demo.stop('SIGKILL');
});

/** The ID token claims the portal page shows. */
const claimsOn = (html: string): Record<string, unknown> => JSON.parse(/<pre>([\s\S]*)<\/pre>/.exec(html)![1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))));

/** Fills the form on `html` (hidden fields included) and follows redirects to the next page. */
async function post(browser: Browser, at: string, html: string, fields: Record<string, string>) {
  const res = await browser.submit(formAction(html, at), { ...hiddenFields(html), ...fields });
  if (res.status < 300 || res.status >= 400) return { url: formAction(html, at), res };
  return browser.follow(new URL(res.headers.get('location')!, formAction(html, at)).href, NOWHERE);
}

describe('npm run demo', () => {
  it('listens on ports of its own, not the documented 7000–7002 and 3000', () => {
    for (const url of [portal, ...Object.values(peers)]) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set([portal, ...Object.values(peers)]).size).toBe(4);
  });

  it('prints the messages Gatehouse sends, with their links, since no mail server is configured', async () => {
    const [, link] = await demo.waitFor(/\[mail\] notification for ana@cascade-consulting\.example: You are invited to Cascade Consulting (http:\/\/\S+)/, 10_000);
    expect(demo.output()).toContain(`set it first at ${link}`);
  });

  it("signs dana of Forge Supplies in through Forge's OIDC IdP, to the portal page showing her token", async () => {
    const browser = new Browser();
    let page = await browser.follow(`${portal}/`, NOWHERE);
    expect(page.url.startsWith(`${peers.gatehouse}/blixit-partners/interaction/`)).toBe(true);
    let html = await page.res.text();
    expect(html).toContain('name="email"');
    page = await post(browser, page.url, html, { email: 'dana@forge-supplies.example' });
    // At Forge's own IdP now.
    expect(page.url.startsWith(`${peers.forge}/interaction/`)).toBe(true);
    html = await page.res.text();
    expect(html).toContain('Forge Supplies SSO');
    const wrong = await post(browser, page.url, html, { email: 'dana@forge-supplies.example', password: 'not-demo' });
    expect(await wrong.res.text()).toContain('Wrong email or password.');
    page = await post(browser, page.url, html, { email: 'dana@forge-supplies.example', password: 'demo' });
    expect(page.url.startsWith(`${portal}/callback`)).toBe(true);
    expect(page.res.status).toBe(200);
    const body = await page.res.text();
    expect(body).toContain('Signed in to the Blixit partner portal');
    expect(claimsOn(body)).toMatchObject({ iss: `${peers.gatehouse}/blixit-partners`, email: 'dana@forge-supplies.example', name: 'Dana Smith', organization_id: 'forge-supplies', acr: 'urn:gatehouse:acr:fed', amr: ['fed'] });

    // Sign-out ends the Gatehouse session too (RP-initiated logout), and lands on the app's own page.
    const signOut = new URL(/id="sign-out" href="([^"]+)"/.exec(body)![1]!.replace(/&amp;/g, '&'), portal).href;
    let out = await browser.follow(signOut, NOWHERE);
    expect(out.url.startsWith(`${peers.gatehouse}/blixit-partners/session/end`)).toBe(true);
    // oidc-provider's confirmation form (its script submits it in a browser); its xsrf field ends in "/>".
    const confirm = await out.res.text();
    out = await post(browser, out.url, confirm, { xsrf: /name="xsrf" value="([^"]+)"/.exec(confirm)![1]!, logout: 'yes' });
    expect(out.url).toBe(`${portal}/signed-out`);
    await expect(text(out.res)).resolves.toContain('You are signed out of Gatehouse and of this app.');
    // Signed out of Gatehouse: the next sign-in asks for the email again.
    const again = await browser.follow(`${portal}/`, NOWHERE);
    expect(await again.res.text()).toContain('name="email"');
  });

  it("prints how Cascade's directory user signs in, with a password link it made, and links the portal", async () => {
    const output = demo.output();
    const link = /set it first at (http:\/\/\S+)/.exec(output)![1]!;
    expect(link.startsWith(`${peers.gatehouse}/`)).toBe(true);
    const browser = new Browser();
    const form = await browser.follow(link, NOWHERE);
    expect(form.res.status).toBe(200);
    const set = await browser.submit(formAction(await form.res.text(), form.url), { password: 'a demo password 1234' });
    expect(set.status).toBe(200);
    const portalUrl = /^\s+(http:\/\/\S+\/cascade-consulting\/portal\/)$/m.exec(output)![1]!;
    const signIn = await browser.follow(portalUrl, NOWHERE);
    expect(signIn.url.startsWith(`${peers.gatehouse}/blixit-partners/cascade-consulting/interaction/`)).toBe(true);
  });

  it("signs sam of Pinnacle Logistics in through Pinnacle's SAML IdP", async () => {
    const browser = new Browser();
    let page = await browser.follow(`${portal}/`, NOWHERE);
    page = await post(browser, page.url, await page.res.text(), { email: 'sam@pinnacle-logistics.example' });
    expect(page.url.startsWith(`${peers.pinnacle}/sso?SAMLRequest=`)).toBe(true);
    const login = await page.res.text();
    // The IdP answers with a self-posting form to Gatehouse's ACS: post it as the browser would.
    const idpPage = await post(browser, page.url, login, { email: 'sam@pinnacle-logistics.example', password: 'demo' });
    const autopost = await idpPage.res.text();
    expect(formAction(autopost, idpPage.url)).toBe(`${peers.gatehouse}/blixit-partners/pinnacle-logistics/saml/pinnacle-saml/acs`);
    page = await post(browser, idpPage.url, autopost, {});
    expect(page.url.startsWith(`${portal}/callback`)).toBe(true);
    expect(page.res.status).toBe(200);
    const body = await page.res.text();
    await expect(text(new Response(body))).resolves.toContain('Sam Okafor of pinnacle-logistics');
    expect(claimsOn(body)).toMatchObject({ iss: `${peers.gatehouse}/blixit-partners`, email: 'sam@pinnacle-logistics.example', name: 'Sam Okafor', organization_id: 'pinnacle-logistics', acr: 'urn:gatehouse:acr:fed', amr: ['fed'] });
  });

  it("prints what to paste in Cascade's Sign-in setup: an IdP of Cascade's own that answers", async () => {
    const [, issuer, secret] = /issuer (http:\/\/\S+), client ID gatehouse-cascade,\s+client secret (\S+);/.exec(demo.output())!;
    expect(secret!.length).toBeGreaterThan(20);
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(discovery.issuer).toBe(issuer);
  });

  it("refuses an address no organization signs in with, on Gatehouse's page", async () => {
    const browser = new Browser();
    const page = await browser.follow(`${portal}/`, NOWHERE);
    const refused = await post(browser, page.url, await page.res.text(), { email: 'eve@unknown.example' });
    expect(refused.res.status).toBe(400);
    expect(await text(refused.res)).toContain('No organization signs in with unknown.example addresses here');
  });

  it("prints none of its peer IdPs' library warnings (in-memory adapter, default TTLs, no single logout)", () => {
    expect(demo.output()).not.toMatch(/oidc-provider (WARNING|NOTICE)|SingleLogoutService/);
  });

  it('stops cleanly on SIGTERM: exit code 0, nothing listening any more', async () => {
    expect(await demo.stop('SIGTERM')).toBe(0);
    for (const url of [portal, ...Object.values(peers)]) await expect(fetch(url)).rejects.toThrow();
  });
});

describe('a demo port already taken', () => {
  it('says which DEMO_PORT_BASE to use instead of printing a stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const run = nodeScript('demo/run.ts', [], { DEMO_PORT_BASE: String(port) });
      expect(await run.exit()).toBe(1);
      const output = run.output();
      expect(output).toContain(`Port ${port} is already in use (DEMO_PORT_BASE=${port}): another demo may still be running.`);
      expect(output).toMatch(/^ {2}DEMO_PORT_BASE=\d+ npm run demo$/m);
      expect(output).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 30_000);

  it('is found before anything starts, with a suggestion whose ports are free', async () => {
    expect(await busyPortAdvice(demoPorts({ DEMO_PORT_BASE: '0' }), {})).toBeUndefined();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      expect(await portBusy(port)).toBe(true);
      const advice = await busyPortAdvice({ gatehouse: port, forge: 0, pinnacle: 0, app: 0 }, {});
      const base = Number(/DEMO_PORT_BASE=(\d+) npm run demo/.exec(advice!)![1]);
      for (const p of Object.values(demoPorts({ DEMO_PORT_BASE: String(base) }))) expect(await portBusy(p)).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('demo ports', () => {
  it('keep the documented ports by default, move together with DEMO_PORT_BASE, and refuse nonsense', () => {
    expect(demoPorts({})).toEqual({ gatehouse: 7000, forge: 7001, pinnacle: 7002, app: 3000 });
    expect(demoPorts({ DEMO_PORT_BASE: '17000' })).toEqual({ gatehouse: 17000, forge: 17001, pinnacle: 17002, app: 17003 });
    expect(demoPorts({ DEMO_PORT_BASE: '0' })).toEqual({ gatehouse: 0, forge: 0, pinnacle: 0, app: 0 });
    expect(() => demoPorts({ DEMO_PORT_BASE: '80' })).toThrow('DEMO_PORT_BASE="80"');
    expect(() => demoPorts({ DEMO_PORT_BASE: 'seven' })).toThrow('DEMO_PORT_BASE="seven"');
  });

  it("point the examples' loopback origins at the moved peers, leaving other URLs alone", () => {
    const moved = movedOrigins({ forge: 'http://127.0.0.1:41001', pinnacle: 'http://127.0.0.1:41002', app: 'http://127.0.0.1:41003' });
    const spec = { oidc: { issuer: 'http://127.0.0.1:7001' }, metadataUrl: 'http://127.0.0.1:7002/metadata', redirectUris: ['http://127.0.0.1:3000/callback', 'http://127.0.0.1:3001/callback', 'https://app.example/cb'], note: 'see http://127.0.0.1:7001' };
    expect(relocate(spec, moved)).toEqual({ oidc: { issuer: 'http://127.0.0.1:41001' }, metadataUrl: 'http://127.0.0.1:41002/metadata', redirectUris: ['http://127.0.0.1:41003/callback', 'http://127.0.0.1:3001/callback', 'https://app.example/cb'], note: 'see http://127.0.0.1:7001' });
  });
});
