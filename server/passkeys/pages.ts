import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { escapeHtml } from '../oidc/html.ts';
import { ASSETS_PATH } from './assets.ts';

/** Where a page served at `issuerUrl` loads the passkey script from: the server's root path, or `/` on a vanity host. */
export function assetBase(issuerUrl: string, publicUrl: string): string {
  const root = publicUrl.replace(/\/+$/, '');
  return issuerUrl === root || issuerUrl.startsWith(`${root}/`) ? `${new URL(root).pathname.replace(/\/+$/, '')}${ASSETS_PATH}` : ASSETS_PATH;
}

export interface PasskeyFormOptions {
  action: string;
  mode: 'register' | 'authenticate';
  options: PublicKeyCredentialCreationOptionsJSON | PublicKeyCredentialRequestOptionsJSON;
  /** The button's text. */
  label: string;
  /** From assetBase. */
  assets: string;
  /** Also offer the passkey in the browser's autofill of the email field (conditional mediation). */
  autofill?: boolean;
  /** A field for the passkey's name (enrolment). */
  nameField?: boolean;
  hidden?: Record<string, string>;
}

/**
 * The form a passkey ceremony posts: its options in `data-options` (no inline script), the
 * answer in `response`. The button shows once the script found WebAuthn in the browser.
 */
export function passkeyForm(f: PasskeyFormOptions): string {
  const hidden = Object.entries(f.hidden ?? {})
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const name = f.nameField ? '<label for="passkey-name">Name of this passkey (optional)</label><input id="passkey-name" name="name" maxlength="64" placeholder="e.g. Work laptop">' : '';
  return `<form id="passkey-form" method="post" action="${escapeHtml(f.action)}" data-mode="${f.mode}" data-autofill="${f.autofill ? 'true' : 'false'}" data-options="${escapeHtml(JSON.stringify(f.options))}">${hidden}<input type="hidden" name="response" value="">${name}<button type="button" id="passkey-button" hidden>${escapeHtml(f.label)}</button><p id="passkey-error" class="error" role="alert" hidden></p></form>
<script type="module" src="${escapeHtml(`${f.assets}/passkeys.js`)}"></script>`;
}
