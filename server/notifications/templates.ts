import { PLACEHOLDER, effectiveSettings, variablesOf, type MessageName, type MessageTemplate } from '../../api/index.ts';
import type { NamespaceView } from '../governance/organizations.ts';
import { escapeHtml } from '../oidc/html.ts';
import { paletteOf } from '../portal/contrast.ts';

type Complete = Required<Pick<MessageTemplate, 'subject' | 'text' | 'html'>> & { language: string };

/** The built-in templates: what a message says when neither the Workspace nor the Organization declares one. */
export const DEFAULT_TEMPLATES: Record<MessageName, Complete> = {
  invitation: {
    language: 'en',
    subject: 'You are invited to {{organizationName}}',
    text: 'Hello {{recipientName}},\n\nYou have an account at {{organizationName}}. Set your password with this link (it works once, until {{expiresAt}}):\n\n{{link}}\n\nIf you did not expect this, ignore this message.',
    html: '<p>Hello {{recipientName}},</p><p>You have an account at {{organizationName}}. Set your password with this link (it works once, until {{expiresAt}}):</p><p><a href="{{link}}">Set your password</a></p><p>If you did not expect this, ignore this message.</p>',
  },
  'password-reset': {
    language: 'en',
    subject: 'Reset your {{organizationName}} password',
    text: 'Hello {{recipientName}},\n\nSomeone (we hope you) asked to reset your password. This link works once, for {{expiresInMinutes}} minutes:\n\n{{link}}\n\nIf it was not you, ignore this message: your password stays as it is.',
    html: '<p>Hello {{recipientName}},</p><p>Someone (we hope you) asked to reset your password. This link works once, for {{expiresInMinutes}} minutes:</p><p><a href="{{link}}">Choose a new password</a></p><p>If it was not you, ignore this message: your password stays as it is.</p>',
  },
  'password-changed': {
    language: 'en',
    subject: 'Your {{organizationName}} password was changed',
    text: 'Hello {{recipientName}},\n\nYour password was changed at {{changedAt}}, and every session was signed out.\n\nIf you did not do this, contact your administrator now.',
    html: '<p>Hello {{recipientName}},</p><p>Your password was changed at {{changedAt}}, and every session was signed out.</p><p>If you did not do this, contact your administrator now.</p>',
  },
  'mfa-enrolled': {
    language: 'en',
    subject: 'Two-step verification is on for your {{organizationName}} account',
    text: 'Hello {{recipientName}},\n\nTwo-step verification ({{method}}) was set up on your account at {{enrolledAt}}.\n\nIf you did not do this, contact your administrator now.',
    html: '<p>Hello {{recipientName}},</p><p>Two-step verification ({{method}}) was set up on your account at {{enrolledAt}}.</p><p>If you did not do this, contact your administrator now.</p>',
  },
  'mfa-reset': {
    language: 'en',
    subject: 'Your {{organizationName}} two-step verification was reset',
    text: 'Hello {{recipientName}},\n\nAn administrator ({{resetBy}}) reset your two-step verification at {{resetAt}}. You will set it up again at your next sign-in.\n\nIf you did not ask for this, contact your administrator now.',
    html: '<p>Hello {{recipientName}},</p><p>An administrator ({{resetBy}}) reset your two-step verification at {{resetAt}}. You will set it up again at your next sign-in.</p><p>If you did not ask for this, contact your administrator now.</p>',
  },
  'passkey-added': {
    language: 'en',
    subject: 'A passkey was added to your {{organizationName}} account',
    text: 'Hello {{recipientName}},\n\nThe passkey "{{passkeyName}}" was added to your account at {{addedAt}}.\n\nIf you did not do this, contact your administrator now.',
    html: '<p>Hello {{recipientName}},</p><p>The passkey “{{passkeyName}}” was added to your account at {{addedAt}}.</p><p>If you did not do this, contact your administrator now.</p>',
  },
  'contract-ending': {
    language: 'en',
    subject: 'The {{organizationName}} contract {{contractId}} ends {{remaining}}',
    text: 'Hello,\n\nThe contract {{contractId}} with {{organizationName}} ends at {{endsAt}} ({{remaining}}). Its users lose access then.\n\nTo keep the partner working, extend spec.contract.endsAt of the Organization.',
    html: '<p>Hello,</p><p>The contract <strong>{{contractId}}</strong> with {{organizationName}} ends at {{endsAt}} ({{remaining}}). Its users lose access then.</p><p>To keep the partner working, extend <code>spec.contract.endsAt</code> of the Organization.</p>',
  },
  'access-request-pending': {
    language: 'en',
    subject: '{{requester}} asks for access to {{client}}',
    text: 'Hello {{recipientName}},\n\n{{requester}} asks for {{scopes}} on {{client}}.\nJustification: {{justification}}\n\nDecide in the partner portal: {{link}}',
    html: '<p>Hello {{recipientName}},</p><p>{{requester}} asks for <strong>{{scopes}}</strong> on {{client}}.</p><p>Justification: {{justification}}</p><p><a href="{{link}}">Decide in the partner portal</a></p>',
  },
  'access-request-decided': {
    language: 'en',
    subject: 'Your access request for {{client}} was {{decision}}',
    text: 'Hello {{recipientName}},\n\nYour request for {{scopes}} on {{client}} was {{decision}} by {{decidedBy}}.',
    html: '<p>Hello {{recipientName}},</p><p>Your request for <strong>{{scopes}}</strong> on {{client}} was {{decision}} by {{decidedBy}}.</p>',
  },
  'user-deprovisioned': {
    language: 'en',
    subject: '{{userEmail}} was deprovisioned from {{organizationName}}',
    text: 'Hello {{recipientName}},\n\n{{userEmail}} was deprovisioned at {{deprovisionedAt}}: the account is deactivated and its sessions and tokens are ended.\nReason: {{reason}}',
    html: '<p>Hello {{recipientName}},</p><p>{{userEmail}} was deprovisioned at {{deprovisionedAt}}: the account is deactivated and its sessions and tokens are ended.</p><p>Reason: {{reason}}</p>',
  },
};

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
  language: string;
  /** The organization's logo, for the HTML part's `cid:logo` (mail clients block data: images). */
  logo?: { contentType: string; content: Buffer };
}

/** Fills `{{name}}` placeholders; names the message does not offer render empty (admission refuses them in declared templates). */
function fill(template: string, variables: Record<string, string>, allowed: ReadonlySet<string>, encode: (v: string) => string): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => (allowed.has(name) ? encode(variables[name] ?? '') : ''));
}

/**
 * The template of `message` for `organization`: each part from the Organization's override,
 * else its parents', else the Workspace's, else the built-in default.
 */
export function templateFor(view: NamespaceView, organization: string, message: MessageName): Complete {
  const chain: MessageTemplate[] = [];
  let current = organization ? view.organizations.get(organization) : undefined;
  const seen = new Set<string>();
  while (current && !seen.has(current.metadata.name)) {
    seen.add(current.metadata.name);
    const own = current.spec.notifications?.templates?.[message];
    if (own) chain.push(own);
    current = current.spec.parentRef ? view.organizations.get(current.spec.parentRef.name) : undefined;
  }
  const workspace = view.workspace?.spec.notifications?.templates?.[message];
  if (workspace) chain.push(workspace);
  const pick = <K extends keyof MessageTemplate>(k: K) => chain.find((t) => t[k] !== undefined)?.[k];
  const fallback = DEFAULT_TEMPLATES[message];
  return { subject: pick('subject') ?? fallback.subject, text: pick('text') ?? fallback.text, html: pick('html') ?? fallback.html, language: pick('language') ?? fallback.language };
}

/**
 * Renders a message with the organization's templates and branding. Values are escaped in the
 * HTML part; the subject is one line. Only the message's own variables (and the common ones)
 * are read, from what the outbox row holds: a template has nothing else to read.
 */
export function renderMessage(view: NamespaceView, organization: string, message: MessageName, given: Record<string, string>): RenderedMessage {
  const template = templateFor(view, organization, message);
  const org = organization ? view.organizations.get(organization) : undefined;
  const variables: Record<string, string> = { organizationName: org?.spec.displayName ?? view.workspace?.spec.displayName ?? view.namespace, workspaceName: view.workspace?.spec.displayName ?? view.namespace, ...given };
  const allowed = new Set(variablesOf(message));
  const subject = fill(template.subject, variables, allowed, (v) => v).replace(/[\r\n]+/g, ' ');
  const text = fill(template.text, variables, allowed, (v) => v);
  const body = fill(template.html, variables, allowed, escapeHtml);
  const settings = organization ? effectiveSettings({ workspace: view.workspace, organizations: view.organizations, templates: view.templates }, organization) : undefined;
  const branding = settings?.branding;
  const colors = paletteOf({ primaryColor: branding?.primaryColor?.value, accentColor: branding?.accentColor?.value });
  const logoUri = branding?.logo?.value;
  const logoMatch = logoUri ? /^data:(image\/[a-z+]+);base64,(.*)$/.exec(logoUri) : null;
  const logo = logoMatch ? { contentType: logoMatch[1]!, content: Buffer.from(logoMatch[2]!, 'base64') } : undefined;
  const title = escapeHtml(variables.organizationName ?? '');
  const html = `<!doctype html>
<html lang="${escapeHtml(template.language)}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="margin:0;padding:0;background:#f6f8fa;font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#24292f">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-top:6px solid ${colors.brand}">
<tr><td style="padding:16px 24px;border-bottom:2px solid ${colors.accent}">${logo ? '<img src="cid:logo" alt="" height="40" style="vertical-align:middle;margin-right:8px">' : ''}<strong>${title}</strong></td></tr>
<tr><td class="body" style="padding:16px 24px;line-height:1.5">${body}</td></tr>
</table></td></tr></table>
<style>a{color:${colors.link}}</style>
</body></html>`;
  return { subject, text, html, language: template.language, ...(logo ? { logo } : {}) };
}
