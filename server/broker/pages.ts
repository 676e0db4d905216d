import type { Context } from 'koa';
import encodeQR from 'qr';
import { escapeHtml, page, type PageBranding } from '../oidc/html.ts';

export function render(ctx: Context, status: number, branding: PageBranding, heading: string, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = page(branding, heading, body);
}

/** The email-first form; `passkey`: the passwordless form (server/passkeys/pages.ts), whose passkeys the email field's autofill offers too. */
export function emailForm(action: string, email: string, error?: string, passkey = ''): string {
  return `${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}" autocomplete="on">
<label for="email">Work email</label><input id="email" name="email" type="email" required value="${escapeHtml(email)}" autocomplete="${passkey ? 'username webauthn' : 'username'}" autofocus>
<button type="submit">Continue</button></form>${passkey ? `<p>Or, without typing anything:</p>${passkey}` : ''}`;
}

/** A refusal a partner user can act on: what went wrong, never a stack trace. */
export function refusal(ctx: Context, status: number, branding: PageBranding, heading: string, message: string): void {
  render(ctx, status, branding, heading, `<p class="error">${escapeHtml(message)}</p><p>If this keeps happening, contact your administrator.</p>`);
}

/** HTTP-POST binding to the partner's IdP: a self-submitting form needs script, so the button stays for users without it. */
export function autoPost(ctx: Context, branding: PageBranding, action: string, fields: Record<string, string>): void {
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  render(ctx, 200, branding, 'Continue to your organization', `<form method="post" action="${escapeHtml(action)}">${inputs}<button type="submit">Continue</button></form>`);
}

/**
 * The otpauth:// URI as an inline SVG QR code, drawn here (no image service sees the secret,
 * no network): an authenticator app scans it from the screen.
 */
export function totpQr(uri: string): string {
  const svg = encodeQR(uri, 'svg', { ecc: 'medium', border: 2 });
  return svg.replace('<svg ', '<svg id="totp-qr" class="qr" role="img" aria-label="QR code of your two-step verification key" width="200" height="200" ');
}
