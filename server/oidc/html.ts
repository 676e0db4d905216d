import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import { paletteOf } from '../portal/contrast.ts';

/** Partner-facing pages: plain HTML, every interpolated value escaped, no external assets. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export interface PageBranding {
  title: string;
  primaryColor?: string | undefined;
  /** Links and the heading's rule; the primary colour when unset. */
  accentColor?: string | undefined;
  logo?: string | undefined;
}

export function page(branding: PageBranding, heading: string, body: string): string {
  // The declared colours where they read (WCAG AA), an accessible shade of them where they do not.
  const colors = paletteOf(branding);
  const logo = branding.logo?.startsWith('data:image/') ? `<img src="${escapeHtml(branding.logo)}" alt="" height="40">` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)} · ${escapeHtml(branding.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#24292f;overflow-wrap:anywhere}
header{display:flex;align-items:center;gap:.5rem;border-bottom:4px solid ${colors.accent};padding-bottom:.5rem;margin-bottom:1.5rem}label{display:block;margin:.8rem 0 .2rem}
a{color:${colors.link}}code{word-break:break-all}.qr{display:block;width:200px;max-width:100%;height:auto;background:#fff;padding:8px}
input{width:100%;padding:.5rem;box-sizing:border-box}button,.button{display:inline-block;margin-top:1rem;padding:.6rem 1rem;background:${colors.brand};color:${colors.onBrand};border:0;border-radius:4px;text-decoration:none}
h1{border-left:4px solid ${colors.accent};padding-left:.5rem}
.error{color:#b42318}</style></head>
<body><header>${logo}<strong>${escapeHtml(branding.title)}</strong></header><h1>${escapeHtml(heading)}</h1>${body}</body></html>`;
}

/** The one script a page of ours runs: the sign-out page submits its form (allowed by its hash, not by 'unsafe-inline'). */
export const LOGOUT_SCRIPT = 'document.forms[0].submit()';

const scriptHash = (script: string) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`;

/**
 * For every page the server renders (and harmless on the rest): no framing (clickjacking),
 * no referrer (codes and interaction ids in URLs), no sniffing. Forms post to the server itself,
 * to a partner's IdP (SAML HTTP-POST) and to clients' redirect URIs (form_post, and the
 * redirects that follow a sign-in POST, which CSP 3 holds to form-action; Chromium 150 does
 * not, other browsers may).
 * oidc-provider appends the hash of its own form_post script to script-src.
 */
const FORM_ACTION = "form-action 'self' http: https:";
export const PAGE_CSP = ["default-src 'none'", `script-src ${scriptHash(LOGOUT_SCRIPT)}`, "style-src 'unsafe-inline'", 'img-src data:', FORM_ACTION, "frame-ancestors 'none'", "base-uri 'none'"].join('; ');

/**
 * Sets the page headers before anything answers, so pages written straight to the socket carry
 * them too. Used by the server's app and inside each provider (for its direct path): the
 * outer one's policy, perhaps widened by `allowFormSchemes`, is kept.
 */
export function pageHeaders(): Middleware {
  return (ctx, next) => {
    setPageHeaders(ctx.res);
    return next();
  };
}

/** What `pageHeaders` does, for a middleware that does more (the issuers' one, on the token path). */
export function setPageHeaders(res: ServerResponse): void {
  if (res.hasHeader('content-security-policy') || res.headersSent) return;
  res.setHeader('Content-Security-Policy', PAGE_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

/**
 * For what answers programs, not browsers (token, introspection, revocation, userinfo, discovery,
 * JWKS): JSON is never a document to render, frame or sniff, so the policy is the shortest that
 * says so (OWASP REST Security: frame-ancestors 'none', nosniff). Half the bytes of the page
 * policy on the token hot path.
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** The API policy, over whatever a page policy the server's app set before the route was known. */
export function setApiHeaders(res: ServerResponse): void {
  if (res.headersSent) return;
  res.setHeader('Content-Security-Policy', API_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (res.hasHeader('referrer-policy')) res.removeHeader('Referrer-Policy');
}

/**
 * Lets a page load the server's own scripts (the passkey pages: server/passkeys/assets.ts),
 * which the default policy refuses; inline script stays refused.
 */
export function allowOwnScripts(ctx: { response: { get(name: string): string }; set(name: string, value: string): void }): void {
  const csp = ctx.response.get('Content-Security-Policy') || PAGE_CSP;
  if (!csp.includes("script-src 'self'")) ctx.set('Content-Security-Policy', csp.replace('script-src ', "script-src 'self' "));
}

/**
 * Lets forms (and the redirects after them) reach native apps' private-use URI schemes
 * (RFC 8252 §7.1) of an issuer's clients, which `http: https:` does not cover.
 */
export function allowFormSchemes(ctx: { response: { get(name: string): string }; set(name: string, value: string): void }, schemes: readonly string[]): void {
  if (schemes.length === 0) return;
  const csp = ctx.response.get('Content-Security-Policy');
  if (csp.includes(FORM_ACTION)) ctx.set('Content-Security-Policy', csp.replace(FORM_ACTION, `${FORM_ACTION} ${schemes.join(' ')}`));
}

/** Already allowed (http, https), or never a place for a form to go (script and local content). */
const NOT_APP_SCHEMES = new Set(['http:', 'https:', 'javascript:', 'vbscript:', 'data:', 'blob:', 'filesystem:', 'file:', 'about:']);

/** `com.example.app:` for each private-use scheme of native clients' redirect URIs. */
export function nativeSchemes(clients: readonly { object: { spec: { redirectUris?: string[] | undefined; postLogoutRedirectUris?: string[] | undefined } } }[]): string[] {
  const schemes = new Set<string>();
  for (const { object } of clients) {
    for (const uri of [...(object.spec.redirectUris ?? []), ...(object.spec.postLogoutRedirectUris ?? [])]) {
      const scheme = URL.canParse(uri) ? new URL(uri).protocol : '';
      if (/^[a-z][a-z0-9+.-]*:$/.test(scheme) && !NOT_APP_SCHEMES.has(scheme)) schemes.add(scheme);
    }
  }
  return [...schemes];
}
