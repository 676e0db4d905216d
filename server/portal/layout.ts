import type { Context } from 'koa';
import { escapeHtml } from '../oidc/html.ts';
import type { Palette } from './contrast.ts';

/**
 * The portal's own Content-Security-Policy: stylesheets and the one script file come from the
 * server itself (no inline script, no CDN), forms post only back to the portal, and logos are
 * the `data:` images an Organization declares.
 */
export const PORTAL_CSP = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"].join('; ');

export function securityHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', PORTAL_CSP);
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
  ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (ctx.protocol === 'https') ctx.set('Strict-Transport-Security', 'max-age=31536000');
}

export interface NavItem {
  label: string;
  href: string;
  current: boolean;
}

export interface Layout {
  /** The portal's base path as the browser sees it (`/ns/org/portal`, or `/portal` on a vanity host). */
  base: string;
  title: string;
  logo?: string | undefined;
  nav: NavItem[];
  /** Who is signed in, and the CSRF token for the sign-out form; absent on pages before sign-in. */
  signedIn?: { subject: string; csrf: string } | undefined;
  notice?: string | undefined;
  error?: string | undefined;
}

/** A hidden form field carrying the session's CSRF token: every portal form has one. */
export const csrfField = (csrf: string) => `<input type="hidden" name="_csrf" value="${escapeHtml(csrf)}">`;

export function layout(l: Layout, heading: string, body: string): string {
  const logo = l.logo?.startsWith('data:image/') ? `<img class="logo" src="${escapeHtml(l.logo)}" alt="">` : '';
  const nav = l.nav.length ? `<nav aria-label="Portal"><ul>${l.nav.map((n) => `<li><a href="${escapeHtml(n.href)}"${n.current ? ' aria-current="page"' : ''}>${escapeHtml(n.label)}</a></li>`).join('')}</ul></nav>` : '';
  const who = l.signedIn ? `<form class="signout" method="post" action="${escapeHtml(`${l.base}/sign-out`)}">${csrfField(l.signedIn.csrf)}<span class="who">${escapeHtml(l.signedIn.subject)}</span> <button type="submit" class="link">Sign out</button></form>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(heading)} · ${escapeHtml(l.title)}</title>
<link rel="stylesheet" href="${escapeHtml(`${l.base}/assets/portal.css`)}"><link rel="stylesheet" href="${escapeHtml(`${l.base}/assets/theme.css`)}">
<script src="${escapeHtml(`${l.base}/assets/portal.js`)}" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="brand"><div class="wrap bar">${logo}<span class="org">${escapeHtml(l.title)}</span>${who}</div></header>
${nav ? `<div class="navbar"><div class="wrap">${nav}</div></div>` : ''}
<main id="main" class="wrap"><h1>${escapeHtml(heading)}</h1>
${l.notice ? `<p class="notice" role="status">${escapeHtml(l.notice)}</p>` : ''}${l.error ? `<p class="error" role="alert">${escapeHtml(l.error)}</p>` : ''}${body}</main>
<footer class="wrap"><small>Partner portal · served by Gatehouse</small></footer>
</body></html>`;
}

/** The organization's colours as custom properties, from the palette checked for contrast. */
export function themeCss(p: Palette): string {
  return `:root{--brand:${p.brand};--on-brand:${p.onBrand};--link:${p.link};--accent:${p.accent}}\n`;
}

/**
 * One stylesheet for every organization (colours come from theme.css). Mobile first: at
 * 390 px tables become stacked cards and long values (keys, ids, URLs) wrap inside the screen.
 */
export const PORTAL_CSS = `*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;overflow-wrap:break-word}
.wrap{max-width:64rem;margin:0 auto;padding:0 1rem}
a{color:var(--link)}
a:focus,button:focus,input:focus,select:focus{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}
header.brand{background:var(--brand);color:var(--on-brand);border-bottom:4px solid var(--accent)}
.bar{display:flex;flex-wrap:wrap;align-items:center;gap:.75rem;min-height:3.5rem;padding-top:.5rem;padding-bottom:.5rem}
.logo{height:40px;max-width:160px;object-fit:contain;background:#fff;border-radius:4px;padding:2px}
.org{font-weight:700;font-size:1.15rem;flex:1 1 auto}
.signout{display:flex;align-items:center;gap:.5rem;margin:0}
.signout .who{font-size:.9rem}
header.brand button.link{color:var(--on-brand);background:transparent;border:1px solid currentColor;border-radius:4px;padding:.25rem .6rem;margin:0;font:inherit;font-size:.9rem;cursor:pointer}
.navbar{background:#f6f8fa;border-bottom:1px solid #d0d7de}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:.5rem 0}
nav a{display:inline-block;padding:.35rem 0;text-decoration:none;font-weight:600}
nav a[aria-current=page]{text-decoration:underline;text-underline-offset:.3em;text-decoration-thickness:3px}
main{padding-top:1rem;padding-bottom:2rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.notice{background:#dafbe1;border-left:4px solid #1a7f37;padding:.5rem .75rem}
.error{color:#b42318;background:#fff1f0;border-left:4px solid #b42318;padding:.5rem .75rem}
.muted{color:#57606a}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=email],input[type=search],input[type=password],input[type=datetime-local],select,textarea{width:100%;max-width:28rem;padding:.5rem;border:1px solid #6e7781;border-radius:4px;font:inherit}
button,.button{display:inline-block;margin-top:.75rem;padding:.5rem 1rem;background:var(--brand);color:var(--on-brand);border:0;border-radius:4px;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary{background:#fff;color:var(--link);border:1px solid var(--link)}
button.danger{background:#b42318;color:#fff}
form.inline{display:inline-block;margin:0 .5rem .25rem 0}
form.inline button{margin-top:.25rem;padding:.3rem .7rem;font-size:.9rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{text-align:left;vertical-align:top;padding:.5rem;border-bottom:1px solid #d0d7de}
th{background:#f6f8fa}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:.85rem;font-weight:600;border:1px solid currentColor}
.ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#b42318}
.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:0 1rem;align-items:end}
.card{border:1px solid #d0d7de;border-radius:6px;padding:1rem;margin:1rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
@media (max-width:40rem){
  table.stack thead{position:absolute;left:-9999px}
  table.stack tr{display:block;border:1px solid #d0d7de;border-radius:6px;margin:0 0 .75rem;padding:.25rem .5rem}
  table.stack td{display:block;border:0;padding:.25rem 0}
  table.stack td[data-label]::before{content:attr(data-label) ": ";font-weight:600}
  dl.facts{grid-template-columns:1fr}
  .signout .who{display:none}
}
/* Sign-in setup: IdP URLs, entity IDs, certificate subjects and claim names are long unbroken strings. */
.sso{overflow-wrap:anywhere}.sso dl.facts dd,.sso td{min-width:0}
footer{padding-bottom:2rem;color:#57606a}
`;

/**
 * The portal's progressive enhancement, served as a file (CSP allows no inline script):
 * forms marked data-confirm ask first, the user list filters as one types, and a link marked
 * data-follow is followed at once (the sign-in setup's test tab, on its way to the partner's IdP). Every page
 * works without it.
 */
export const PORTAL_JS = `document.addEventListener('submit',function(e){var m=e.target.getAttribute('data-confirm');if(m&&!window.confirm(m))e.preventDefault();});
document.querySelectorAll('a[data-follow]').forEach(function(a){window.location.replace(a.href);});
document.addEventListener('input',function(e){var t=e.target;if(!t.matches||!t.matches('[data-filter]'))return;var q=t.value.toLowerCase();document.querySelectorAll(t.getAttribute('data-filter')).forEach(function(r){r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});
`;
