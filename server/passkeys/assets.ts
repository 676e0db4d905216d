import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';

/** Where the passkey scripts are served, below the server's root path and below each vanity host's `/`. */
export const ASSETS_PATH = '/-/webauthn';

/**
 * The pages' own script: it reads the ceremony's options from the passkey form's
 * `data-options`, runs it with @simplewebauthn/browser when the button is pressed (or, on the
 * email-first page, through the browser's autofill: conditional mediation), and posts the
 * answer as the form's `response` field. No inline script: the pages' CSP allows `'self'` only.
 */
export const PASSKEY_SCRIPT = `import { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, startRegistration } from './browser/index.js';
const form = document.getElementById('passkey-form');
if (form) {
  const options = JSON.parse(form.dataset.options);
  const button = document.getElementById('passkey-button');
  const error = document.getElementById('passkey-error');
  const send = (response) => {
    form.elements.response.value = JSON.stringify(response);
    form.submit();
  };
  const fail = (e) => {
    if (e && e.name === 'AbortError') return;
    error.textContent = e && e.name === 'NotAllowedError' ? 'The passkey request was cancelled or timed out. Try again.' : 'Your browser could not use a passkey here (' + (e && e.message ? e.message : e) + ').';
    error.className = 'error';
    error.hidden = false;
  };
  const run = (autofill) => (form.dataset.mode === 'register' ? startRegistration({ optionsJSON: options }) : startAuthentication({ optionsJSON: options, useBrowserAutofill: autofill }));
  if (browserSupportsWebAuthn()) {
    button.hidden = false;
    button.addEventListener('click', () => run(false).then(send, fail));
    // The autofill waits quietly: a browser that cannot offer passkeys there says nothing, the button still works.
    if (form.dataset.autofill === 'true' && (await browserSupportsWebAuthnAutofill())) run(true).then(send, () => {});
  }
  form.dataset.ready = 'true';
}
`;

/** @simplewebauthn/browser's ES modules, read once from node_modules: relative path → source. */
function browserModules(): Map<string, string> {
  const root = fileURLToPath(new URL('.', import.meta.resolve('@simplewebauthn/browser')));
  const files = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.js')) continue;
    files.set(relative(root, join(root, entry)).split(sep).join('/'), readFileSync(join(root, entry), 'utf8'));
  }
  return files;
}

/**
 * Serves `/-/webauthn/passkeys.js` and `/-/webauthn/browser/*.js` (@simplewebauthn/browser as
 * it ships, an ES module tree, no CDN) at the server's root path and at `/` (vanity hosts).
 * Only the files found at start are served: nothing else of the file system is reachable.
 */
export function passkeyAssets(rootPath: () => string): Middleware {
  let modules: Map<string, string> | undefined;
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const root = rootPath();
    const at = ctx.path.startsWith(`${root}${ASSETS_PATH}/`) ? `${root}${ASSETS_PATH}/` : ctx.path.startsWith(`${ASSETS_PATH}/`) ? `${ASSETS_PATH}/` : undefined;
    if (!at) return next();
    const file = ctx.path.slice(at.length);
    modules ??= browserModules();
    const body = file === 'passkeys.js' ? PASSKEY_SCRIPT : file.startsWith('browser/') ? modules.get(file.slice('browser/'.length)) : undefined;
    if (body === undefined) return next();
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
}
