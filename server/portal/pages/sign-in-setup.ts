import { Problem } from '../../errors.ts';
import type { CertificateSummary } from '../../federation-setup/inspect.ts';
import type { DraftView } from '../../federation-setup/setup.ts';
import { ownedDomains } from '../../governance/domains.ts';
import { principalOf } from '../../governance/guard.ts';
import { escapeHtml } from '../../oidc/html.ts';
import type { OrganizationTemplateObject } from '../../../api/index.ts';
import { portalPage, type PortalRequest } from '../page.ts';

const e = escapeHtml;

function certificates(certs: CertificateSummary[]): string {
  if (certs.length === 0) return '<p class="muted">No certificates published (keys without X.509 certificates).</p>';
  const badge = (c: CertificateSummary) => ({ valid: '<span class="badge ok">valid</span>', expiring: '<span class="badge warn">expires soon</span>', expired: '<span class="badge bad">expired</span>', 'not-yet-valid': '<span class="badge warn">not yet valid</span>' })[c.status];
  return `<table class="stack"><thead><tr><th scope="col">Subject</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col">SHA-256</th></tr></thead><tbody>${certs
    .map((c) => `<tr><td data-label="Subject">${e(c.subject)}</td><td data-label="Expires">${e(c.notAfter.slice(0, 10))}</td><td data-label="Status">${badge(c)}</td><td data-label="SHA-256"><code>${e(c.fingerprint)}</code></td></tr>`)
    .join('')}</tbody></table>`;
}

function facts(rows: [string, string][]): string {
  return `<dl class="facts">${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd><code>${e(v)}</code></dd>`).join('')}</dl>`;
}

const ENDPOINT_LABELS: Record<string, string> = { authorization: 'Authorization endpoint', token: 'Token endpoint', userinfo: 'UserInfo endpoint', jwks: 'Signing keys (JWKS)', endSession: 'Sign-out endpoint', singleSignOn: 'Single sign-on (HTTP-Redirect)' };

function draftCard(req: PortalRequest, d: DraftView): string {
  const state = { draft: '<span class="badge warn">not tested</span>', tested: '<span class="badge ok">tested</span>', 'test-failed': '<span class="badge bad">test failed</span>' }[d.state];
  const read = facts([[d.type === 'oidc' ? 'Issuer' : 'Entity ID', d.inspection.entityId], ...Object.entries(d.inspection.endpoints).map(([k, v]) => [ENDPOINT_LABELS[k] ?? k, v] as [string, string])]);
  const warnings = d.inspection.warnings.length ? `<ul class="error" role="alert">${d.inspection.warnings.map((w) => `<li>${e(w)}</li>`).join('')}</ul>` : '';
  const register =
    d.type === 'oidc'
      ? facts([['Redirect URI', d.register.redirectUri!]])
      : facts([
          ['ACS URL', d.register.acsUrl!],
          ['SP entity ID', d.register.spEntityId!],
          ['SP metadata', d.register.spMetadataUrl!],
        ]);
  const test = d.test
    ? `<div class="${d.test.ok ? 'notice' : 'error'}" id="test-${e(d.name)}" role="status"><p><strong>${d.test.ok ? 'Test sign-in succeeded' : 'Test sign-in failed'}</strong> (${e(d.test.at.slice(0, 16).replace('T', ' '))} UTC): ${e(d.test.message ?? '')}</p>${
        d.test.claims
          ? `<table class="stack claims"><thead><tr><th scope="col">Claim</th><th scope="col">Value</th></tr></thead><tbody>${Object.entries(d.test.claims)
              .map(([k, v]) => `<tr><td data-label="Claim"><code>${e(k)}</code></td><td data-label="Value">${e(Array.isArray(v) ? v.join(', ') : String(v))}</td></tr>`)
              .join('')}</tbody></table>`
          : ''
      }</div>`
    : '<p class="muted">Not tested yet. A test signs you in at your identity provider in a new tab; nobody is signed in to any application and no user is created.</p>';
  const action = (verb: string) => e(req.url(`sso/${d.name}/${verb}`));
  return `<section class="card" id="draft-${e(d.name)}" aria-labelledby="draft-${e(d.name)}-h"><h3 id="draft-${e(d.name)}-h">${e(d.displayName ?? d.name)} <small class="muted">${e(d.name)} · ${d.type === 'oidc' ? 'OpenID Connect' : 'SAML 2.0'}</small> ${state}</h3>
<h4>What was read</h4>${read}${warnings}<h4>Certificates</h4>${certificates(d.inspection.certificates)}
<h4>Register this at your identity provider</h4>${register}
<p>Email domains: ${d.emailDomains.length ? d.emailDomains.map((x) => `<code>${e(x)}</code>`).join(', ') : 'all of your organization’s'}</p>
<h4>Test</h4>${test}
<form class="inline" method="post" action="${action('test')}" target="_blank">${req.csrfField}<button type="submit" class="secondary">Test sign-in</button></form>
${d.state === 'tested' ? `<form class="inline" method="post" action="${action('enable')}" data-confirm="Turn on sign-in through ${e(d.displayName ?? d.name)} for your organization?">${req.csrfField}<button type="submit">Enable</button></form>` : ''}
<form class="inline" method="post" action="${action('delete')}" data-confirm="Delete the draft ${e(d.name)}?">${req.csrfField}<button type="submit" class="secondary">Delete draft</button></form></section>`;
}

async function domainsOf(req: PortalRequest): Promise<string[]> {
  const templates = new Map((await req.services.store.objects.list({ kind: 'OrganizationTemplate', namespace: req.principal.namespace })).map((t) => [t.object.metadata.name, t.object as OrganizationTemplateObject]));
  return ownedDomains(req.organization, templates);
}

function setupForm(req: PortalRequest, domains: string[], values: URLSearchParams): string {
  const v = (name: string) => e(values.get(name) ?? '');
  const type = values.get('type') === 'saml' ? 'saml' : 'oidc';
  const chosen = new Set(values.getAll('emailDomains'));
  return `<section class="card" aria-labelledby="new-h"><h2 id="new-h">Set up your identity provider</h2>
<p>Paste where your identity provider publishes itself. Gatehouse reads it and shows you what it found before anything is switched on.</p>
<form method="post" action="${e(req.url('sso'))}">${req.csrfField}
<label for="sso-name">Connection name</label><input type="text" id="sso-name" name="name" required pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" value="${v('name') || e(`${req.principal.organization}-sso`.slice(0, 63))}" aria-describedby="sso-name-help"><p class="muted" id="sso-name-help">Lower-case letters, digits and dashes.</p>
<label for="sso-display">Shown to your users as</label><input type="text" id="sso-display" name="displayName" value="${v('displayName')}">
<fieldset><legend>Protocol</legend>
<label><input type="radio" name="type" value="oidc"${type === 'oidc' ? ' checked' : ''}> OpenID Connect</label>
<label><input type="radio" name="type" value="saml"${type === 'saml' ? ' checked' : ''}> SAML 2.0</label></fieldset>
<fieldset><legend>OpenID Connect</legend>
<label for="oidc-issuer">Issuer URL</label><input type="text" inputmode="url" id="oidc-issuer" name="issuer" placeholder="https://login.example.com" value="${v('issuer')}">
<label for="oidc-client">Client ID</label><input type="text" id="oidc-client" name="clientId" value="${v('clientId')}">
<label for="oidc-secret">Client secret</label><input type="password" id="oidc-secret" name="clientSecret" autocomplete="off" aria-describedby="oidc-secret-help"><p class="muted" id="oidc-secret-help">Stored write-only: it is never shown again. Leave empty to keep the one already stored.</p></fieldset>
<fieldset><legend>SAML 2.0</legend>
<label for="saml-url">Metadata URL</label><input type="text" inputmode="url" id="saml-url" name="metadataUrl" placeholder="https://idp.example.com/metadata" value="${v('metadataUrl')}">
<label for="saml-xml">…or paste the metadata XML</label><textarea id="saml-xml" name="metadataXml" rows="5">${v('metadataXml')}</textarea></fieldset>
<fieldset><legend>Email domains that sign in here</legend>${domains.map((d, i) => `<label><input type="checkbox" name="emailDomains" value="${e(d)}" id="domain-${i}"${chosen.size === 0 || chosen.has(d) ? ' checked' : ''}> ${e(d)}</label>`).join('')}</fieldset>
<button type="submit">Read and save draft</button></form></section>`;
}

/** The draft as the admin API takes it, from the form (empty fields are absent). */
function draftInput(form: URLSearchParams, domains: string[]): Record<string, unknown> {
  const get = (k: string) => (form.get(k) ?? '').trim() || undefined;
  const chosen = form.getAll('emailDomains');
  const common = { ...(get('displayName') ? { displayName: get('displayName') } : {}), ...(chosen.length && chosen.length < domains.length ? { emailDomains: chosen } : {}) };
  if (form.get('type') === 'saml') {
    const xml = get('metadataXml');
    return { type: 'saml', ...common, saml: xml ? { metadataXml: xml } : { metadataUrl: get('metadataUrl') ?? '' } };
  }
  return { type: 'oidc', ...common, oidc: { issuer: get('issuer') ?? '', clientId: get('clientId') ?? '', ...(get('clientSecret') ? { clientSecret: get('clientSecret') } : {}) } };
}

async function show(req: PortalRequest, options: { status?: number; error?: string; values?: URLSearchParams } = {}): Promise<void> {
  const { namespace, organization } = req.principal;
  const setup = req.services.federationSetup;
  const overview = await setup.overview(namespace, organization);
  const domains = await domainsOf(req);
  const connections = overview.connections.length
    ? `<table class="stack"><thead><tr><th scope="col">Connection</th><th scope="col">Type</th><th scope="col">Set up by</th><th scope="col">Email domains</th><th scope="col"></th></tr></thead><tbody>${overview.connections
        .map(
          (c) =>
            `<tr id="connection-${e(c.name)}"><td data-label="Connection">${e(c.displayName ?? c.name)} <small class="muted">${e(c.name)}</small></td><td data-label="Type">${e(c.type)}</td><td data-label="Set up by">${c.source === 'portal' ? '<span class="badge">you, in this portal</span>' : 'your platform team (git)'}</td><td data-label="Email domains">${e(c.emailDomains.join(', ') || 'all')}</td><td>${
              c.source === 'portal' ? `<form class="inline" method="post" action="${e(req.url(`sso/connections/${c.name}/disable`))}" data-confirm="Turn off sign-in through ${e(c.name)}?">${req.csrfField}<button type="submit" class="danger">Turn off</button></form>` : ''
            }</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p>No connection yet: your users sign in with a password.</p>';
  req.render(
    'Sign-in setup',
    `<div class="sso"><p>Let your people sign in with your company’s own identity provider. Set it up here, test it with a real sign-in, then enable it. Your platform team can later commit it to git; until then it is marked as set up in the portal.</p>
<h2>Connections</h2>${connections}
${overview.drafts.length ? `<h2>Drafts</h2>${overview.drafts.map((d) => draftCard(req, d)).join('')}` : ''}
${setupForm(req, domains, options.values ?? new URLSearchParams())}</div>`,
    { ...(options.status ? { status: options.status } : {}), ...(options.error ? { error: options.error } : {}) },
  );
}

/**
 * "Sign-in setup": the guided IdP setup of server/federation-setup/ (the admin API's
 * `…/organizations/{org}/sso` routes, the same service and guardrails). Pick OIDC or SAML,
 * paste the issuer or metadata, see what was read, "Test sign-in" in a new tab, "Enable".
 */
export const signInSetupPage = portalPage({
  path: 'sso',
  nav: { label: 'Sign-in setup', order: 50 },
  roles: ['organization-admin', 'admin'],
  async get(req) {
    await show(req);
  },
  async post(req) {
    const { namespace, organization } = req.principal;
    const setup = req.services.federationSetup;
    await req.services.guard.require(req.ctx, 'sso.write', { namespace, organization });
    const context = { actor: principalOf(req.ctx).actor, provenance: { source: 'portal' } };
    const [name, verb, extra] = req.rest;
    if (req.rest.length === 0) {
      const draftName = (req.form.get('name') ?? '').trim();
      try {
        await setup.saveDraft(namespace, organization, draftName, draftInput(req.form, await domainsOf(req)), context);
      } catch (error) {
        if (!(error instanceof Problem) || error.status === 403) throw error;
        const values = new URLSearchParams(req.form);
        values.delete('clientSecret');
        return show(req, { status: error.status, error: error.message, values });
      }
      return req.redirect('sso', 'sso-saved');
    }
    if (name === 'connections' && extra === 'disable' && verb) {
      await setup.disable(namespace, organization, verb, context);
      return req.redirect('sso', 'sso-disabled');
    }
    if (!name || req.rest.length !== 2) throw new Problem(404, 'Not found', 'There is no such action.');
    if (verb === 'test') {
      // The new tab continues to the IdP by a link (the portal's CSP lets forms post only to itself).
      const { url } = await setup.startTest(namespace, organization, name, context);
      const idp = new URL(url).host;
      return req.render('Test sign-in', `<p>Continuing to your identity provider (${e(idp)}). Sign in there; this tab then shows what it sent back.</p><p><a class="button" id="continue-to-idp" data-follow href="${e(url)}">Continue to ${e(idp)}</a></p>`);
    }
    if (verb === 'enable') {
      await setup.enable(namespace, organization, name, context);
      return req.redirect('sso', 'sso-enabled');
    }
    if (verb === 'delete') {
      await setup.deleteDraft(namespace, organization, name, context);
      return req.redirect('sso', 'sso-deleted');
    }
    throw new Problem(404, 'Not found', 'There is no such action.');
  },
});
