import { effectiveSettings } from '../../../api/index.ts';
import { loadDeclarations } from '../../governance/effective.ts';
import { escapeHtml } from '../../oidc/html.ts';
import { accountChange, assetBase, passkeyForm, passkeyList } from '../../passkeys/pages.ts';
import { relyingPartyOf } from '../../passkeys/service.ts';
import { notFound } from '../../errors.ts';
import { portalPage, type PortalRequest } from '../page.ts';

/** The signed-in administrator, the relying party of this portal's host, and whether the organization allows passkeys. */
async function context(req: PortalRequest) {
  const { store, publicUrl } = req.services;
  const user = await store.users.find(req.principal.namespace, req.principal.subject);
  if (!user) throw notFound(`user ${req.principal.subject} does not exist`);
  const methods = effectiveSettings(await loadDeclarations(store, req.principal.namespace), req.principal.organization)?.mfaMethods.value ?? [];
  // The portal's own host is the RP ID: the issuer's, canonical or vanity, where the passkey is used.
  const rp = relyingPartyOf(req.baseUrl, req.organization.spec.displayName ?? req.organization.metadata.name);
  return { user, rp, allowed: methods.includes('webauthn'), assets: assetBase(req.baseUrl, publicUrl()) };
}

/**
 * The administrator's own passkeys, from the portal: the same list, rename, remove and add as
 * the issuer's account page (`{issuer}/account/passkeys`), with the portal's session and CSRF
 * token. Administrators are who `mfa.requirePhishingResistant.administrators` asks for a passkey.
 */
export const accountPage = portalPage({
  path: 'account',
  nav: { label: 'Your passkeys', order: 90 },
  async get(req) {
    const { user, rp, allowed, assets } = await context(req);
    const { passkeys } = req.services;
    const mine = await req.services.store.passkeys.list(user.namespace, user.id);
    const add =
      allowed && passkeys
        ? `<h2>Add a passkey</h2>${passkeyForm({ action: req.url('account'), mode: 'register', options: await passkeys.registrationOptions(rp, user), label: 'Add a passkey', assets, nameField: true, hidden: { op: 'register' }, extra: req.csrfField })}`
        : '<p>Your organization does not allow passkeys.</p>';
    req.render('Your passkeys', `<p>Passkeys sign you in to ${escapeHtml(rp.id)} without a password, and cannot be phished.</p>${passkeyList(mine, rp.id, req.url('account'), req.csrfField)}${add}`);
  },
  async post(req) {
    const { user, rp, allowed } = await context(req);
    if (!req.services.passkeys) throw notFound('passkeys are not served here');
    const changed = await accountChange(req.services.passkeys, rp, user, req.form, allowed);
    if ('error' in changed) return req.render('Your passkeys', `<p><a href="${escapeHtml(req.url('account'))}">Back to your passkeys</a></p>`, { status: changed.status, error: changed.error });
    req.redirect('account', `passkey-${changed.done}`);
  },
});
