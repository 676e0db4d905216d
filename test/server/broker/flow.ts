import * as oidc from 'openid-client';
import { Browser } from '../../support/browser.ts';

export const CALLBACK = 'http://127.0.0.1:9/callback';

export const text = async (res: Response) =>
  (await res.text())
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, ' ');
export const formAction = (html: string, base: string) => new URL(/action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'), base).href;
export const hiddenFields = (html: string) =>
  Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1]!,
      m[2]!
        .replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)))
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&'),
    ]),
  );

export interface Started {
  browser: Browser;
  verifier: string;
  state: string;
  /** Where the browser is now, and what it shows. */
  url: string;
  res: Response;
}

/** A client sends the browser to its Gatehouse issuer; the browser stops at the first page. */
export async function startSignIn(config: oidc.Configuration, params: Record<string, string> = {}, browser = new Browser()): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, ...params });
  const page = await browser.follow(url.href, CALLBACK);
  return { browser, verifier, state, ...page };
}

/** Fills the form on the current page and follows redirects until a page (or the client's callback). */
export async function submit(s: Started, fields: Record<string, string>, stopAt = CALLBACK): Promise<Started> {
  const html = await s.res.text();
  if (!/action="/.test(html))
    throw new Error(
      `no form at ${s.url} (${s.res.status}): ${html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 500)}`,
    );
  // Like a browser: the form's hidden fields go along with what the user typed.
  const posted = await s.browser.submit(formAction(html, s.url), { ...hiddenFields(html), ...fields });
  if (posted.status < 300 || posted.status >= 400) return { ...s, res: posted };
  const next = await s.browser.follow(new URL(posted.headers.get('location')!, s.url).href, stopAt);
  return { ...s, ...next };
}

/** Follows from the current redirect on, until a page or `stopAt`. */
export async function resume(s: Started, url: string, stopAt = CALLBACK): Promise<Started> {
  return { ...s, ...(await s.browser.follow(url, stopAt)) };
}

/**
 * Through every page a directory user meets (at the shared issuer the email first, then the
 * password) until the callback or another page (a second factor's), left for the caller to read.
 * `pages`: the HTML of each page passed.
 */
export async function throughSignIn(config: oidc.Configuration, email: string, password: string, scope = 'openid email'): Promise<{ pages: string[]; end: Started }> {
  let s = await startSignIn(config, { scope });
  const pages: string[] = [];
  for (let step = 0; step < 3 && !s.url.startsWith(CALLBACK) && s.res.status === 200; step++) {
    const html = await s.res.text();
    pages.push(html);
    if (!/name="password"/.test(html) && !/name="email"/.test(html)) {
      s = { ...s, res: new Response(html) };
      break;
    }
    s = await submit({ ...s, res: new Response(html) }, /name="password"/.test(html) ? { email, password } : { email });
  }
  return { pages, end: s };
}

/** The tokens at the end of `throughSignIn`. */
export async function codeGrant(config: oidc.Configuration, end: Started) {
  if (!end.url.startsWith(CALLBACK)) throw new Error(`sign-in stopped at ${end.url} (${end.res.status})`);
  return oidc.authorizationCodeGrant(config, new URL(end.url), { pkceCodeVerifier: end.verifier, expectedState: end.state });
}
