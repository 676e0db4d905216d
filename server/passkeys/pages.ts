import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { escapeHtml } from '../oidc/html.ts';
import type { PasskeyRecord, UserRecord } from '../store/index.ts';
import { REFUSAL_MESSAGES, cleanName, parseResponse, type Passkeys, type RelyingParty } from './service.ts';
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
  /** More hidden fields, as HTML (a page's CSRF field). */
  extra?: string;
}

/**
 * The form a passkey ceremony posts: its options in `data-options` (no inline script), the
 * answer in `response`. The button shows once the script found WebAuthn in the browser; the
 * error line becomes an `.error` only when the script has something to say (a page's own
 * `.error` stays the only one until then).
 */
export function passkeyForm(f: PasskeyFormOptions): string {
  const hidden = Object.entries(f.hidden ?? {})
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const name = f.nameField ? '<label for="passkey-name">Name of this passkey (optional)</label><input id="passkey-name" name="name" maxlength="64" placeholder="e.g. Work laptop">' : '';
  return `<form id="passkey-form" method="post" action="${escapeHtml(f.action)}" data-mode="${f.mode}" data-autofill="${f.autofill ? 'true' : 'false'}" data-options="${escapeHtml(JSON.stringify(f.options))}">${hidden}${f.extra ?? ''}<input type="hidden" name="response" value="">${name}<button type="button" id="passkey-button" hidden>${escapeHtml(f.label)}</button><p id="passkey-error" role="alert" hidden></p></form>
<script type="module" src="${escapeHtml(`${f.assets}/passkeys.js`)}"></script>`;
}

/** What an account page says after a change (the `done` it redirects with). */
export const ACCOUNT_NOTICES: Record<string, string> = { added: 'Your passkey is added.', renamed: 'The passkey is renamed.', removed: 'The passkey is removed.' };

/** A user's passkeys on an account page: each with its rename and remove forms (`token`: the page's CSRF field, HTML), or none (`readOnly`). */
export function passkeyList(mine: readonly PasskeyRecord[], rpId: string, action: string, token: string, readOnly = false): string {
  if (mine.length === 0) return '<p id="no-passkeys">You have no passkeys yet.</p>';
  const when = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString().slice(0, 16).replace('T', ' '));
  const rows = mine.map((p) => {
    const id = escapeHtml(p.id);
    const about = `<strong>${escapeHtml(p.name)}</strong> <small>${p.deviceType === 'singleDevice' ? 'this device or security key' : 'synced passkey'}${p.rpId === rpId ? '' : ` · for ${escapeHtml(p.rpId)}`} · added ${when(p.createdAt)} · last used ${when(p.lastUsedAt)}</small>`;
    if (readOnly) return `<li class="passkey" data-id="${id}">${about}</li>`;
    return `<li class="passkey" data-id="${id}">${about}
<form method="post" action="${escapeHtml(action)}">${token}<input type="hidden" name="op" value="rename"><input type="hidden" name="id" value="${id}"><label for="rename-${id}">New name</label><input id="rename-${id}" name="name" maxlength="64" required value="${escapeHtml(p.name)}"><button type="submit">Rename</button></form>
<form method="post" action="${escapeHtml(action)}">${token}<input type="hidden" name="op" value="remove"><input type="hidden" name="id" value="${id}"><button type="submit">Remove</button></form></li>`;
  });
  return `<ul id="passkeys">${rows.join('')}</ul>`;
}

/**
 * One change an account page posts (`op`: register, rename, remove), for `user` at `rp`:
 * what to say (`done`: the notice's key) or why not (a status and a message).
 */
export async function accountChange(passkeys: Passkeys, rp: RelyingParty, user: UserRecord, form: URLSearchParams, webauthnAllowed: boolean): Promise<{ done: string } | { status: number; error: string }> {
  const op = form.get('op') ?? '';
  const id = form.get('id') ?? '';
  if (op === 'register') {
    if (!webauthnAllowed) return { status: 403, error: 'Your organization does not allow passkeys.' };
    const response = parseResponse(form.get('response') ?? '', 'register');
    if (!response) return { status: 400, error: REFUSAL_MESSAGES.malformed };
    const added = await passkeys.register(rp, user, response, form.get('name') ?? '');
    return added.ok ? { done: 'added' } : { status: 400, error: REFUSAL_MESSAGES[added.reason] };
  }
  if (op === 'rename') {
    const name = cleanName(form.get('name') ?? '');
    if (!name) return { status: 400, error: 'Give the passkey a name.' };
    return (await passkeys.rename(user, id, name)) ? { done: 'renamed' } : { status: 404, error: 'You have no such passkey.' };
  }
  if (op === 'remove') return (await passkeys.remove(user, id)) ? { done: 'removed' } : { status: 404, error: 'You have no such passkey.' };
  return { status: 400, error: 'Unknown change.' };
}
