import { z } from 'zod';
import { SecretKeyRef } from './common.ts';

/**
 * The messages Gatehouse sends, each with the fixed set of variables its templates may use.
 * A template reads nothing else: no secret, no other organization's data, no expression.
 * Every message also has the common variables (who it is for, which organization).
 */
export const COMMON_VARIABLES = ['recipientName', 'recipientEmail', 'organizationName', 'workspaceName'] as const;

export const MESSAGE_VARIABLES = {
  invitation: ['link', 'expiresAt'],
  'password-reset': ['link', 'expiresInMinutes'],
  'password-changed': ['changedAt'],
  'mfa-enrolled': ['method', 'enrolledAt'],
  'mfa-reset': ['resetAt', 'resetBy'],
  'passkey-added': ['passkeyName', 'addedAt'],
  'contract-ending': ['contractId', 'endsAt', 'remaining'],
  'access-request-pending': ['requester', 'client', 'scopes', 'justification', 'link'],
  'access-request-decided': ['decision', 'client', 'scopes', 'decidedBy'],
  'user-deprovisioned': ['userEmail', 'reason', 'deprovisionedAt'],
} as const satisfies Record<string, readonly string[]>;

export type MessageName = keyof typeof MESSAGE_VARIABLES;
export const MESSAGE_NAMES = Object.keys(MESSAGE_VARIABLES) as MessageName[];

/** The variables a template of this message may name. */
export function variablesOf(message: MessageName): readonly string[] {
  return [...COMMON_VARIABLES, ...MESSAGE_VARIABLES[message]];
}

/** `{{ name }}`: the only placeholder syntax (no sections, no raw output, no expressions). */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The placeholders a template names that its message does not offer. */
export function unknownVariables(message: MessageName, template: string): string[] {
  const known = new Set(variablesOf(message));
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '').filter((name) => !known.has(name));
}

export const MessageTemplate = z.strictObject({
  /** BCP 47 language tag of the message (the `Content-Language` of the email and the `lang` of its HTML part). */
  language: z
    .string()
    .regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/, { error: 'expected a language tag such as "en" or "de-CH"' })
    .optional(),
  subject: z.string().min(1).max(300).optional(),
  /** The plain-text part. */
  text: z.string().min(1).max(20_000).optional(),
  /** The HTML part's body (inside the organization's branded layout); variables are HTML-escaped. */
  html: z.string().min(1).max(100_000).optional(),
});
export type MessageTemplate = z.infer<typeof MessageTemplate>;

/** Templates by message name; what a template leaves out comes from the level above (Workspace, then the built-in default). */
export const MessageTemplates = z.record(z.string(), MessageTemplate).superRefine((templates, ctx) => {
  for (const [name, template] of Object.entries(templates)) {
    if (!(name in MESSAGE_VARIABLES)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a message; expected one of ${MESSAGE_NAMES.join(', ')}` });
      continue;
    }
    for (const part of ['subject', 'text', 'html'] as const) {
      const body = template[part];
      if (!body) continue;
      const unknown = unknownVariables(name as MessageName, body);
      if (unknown.length) ctx.addIssue({ code: 'custom', path: [name, part], message: `unknown variable ${unknown.map((u) => `{{${u}}}`).join(', ')}; ${name} offers ${variablesOf(name as MessageName).join(', ')}` });
    }
  }
});
export type MessageTemplates = z.infer<typeof MessageTemplates>;

/** A Workspace's notification settings. */
export const WorkspaceNotifications = z.strictObject({
  templates: MessageTemplates.optional(),
  /**
   * SMS, voice or chat through the platform team's own provider: every message is also POSTed
   * as JSON to this URL, signed with HMAC-SHA256 over `<timestamp>.<body>` under the secret.
   */
  webhook: z
    .strictObject({
      url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
      secretRef: SecretKeyRef,
    })
    .optional(),
});

/** An Organization's overrides of the Workspace's templates. */
export const OrganizationNotifications = z.strictObject({
  templates: MessageTemplates.optional(),
});
