import { KINDS, type KindName } from '../../api/index.ts';

/**
 * Every audit action the server writes. Records are hash-chained and filtered by action
 * (`GET /admin/v1/audit?action=…`, attestations), so these strings are kept exactly as
 * they have been written; a new action is added here first, and the type checker refuses
 * an append of anything else.
 *
 * Convention for new actions: `domain.event`, lower case, kebab-case event, for what
 * happens at run time (sign-ins, tokens, refusals, runtime user state); `Kind.event` with
 * the kind as declared for events on one declared object (recorded with `kind` and
 * `name`). `user.*` beside `User.*` is that split: `User.created` is the declaration,
 * `user.invited` a runtime invitation. `organization.deprovisioned` predates the rule
 * (it is an event on the declared Organization) and keeps its name, as old records do.
 */
export const RUNTIME_ACTIONS = [
  // Sign-in: the password form, the broker's upstream round trip, step-up.
  'login.succeeded',
  'login.failed',
  'login.refused',
  'login.unknown-domain',
  'login.upstream-started',
  'login.mfa-verified',
  'login.mfa-failed',
  // The token endpoint, revocation and introspection.
  'token.issued',
  'token.refreshed',
  'token.refused',
  'token.refresh-reuse-detected',
  'token.exchanged',
  'token.revoked',
  'token.introspected-inactive',
  'token.claims-dropped',
  // The authorization decision endpoint (API gateways): allows sampled, every deny.
  'api.allowed',
  'api.denied',
  // Requests refused before any protocol step (networks, rate, bad credentials; summarised when flooding).
  'access.refused-network',
  'access.refused-country',
  'access.rate-limited',
  'access.refused-token',
  'access.refused-redirect-uri',
  'access.refusals-suppressed',
  'admin.denied',
  // The partner portal's own sign-ins and sign-outs (its pages' changes are the user.* and Organization.* actions).
  'portal.signed-in',
  'portal.signed-out',
  'portal.refused',
  // Runtime user state (JIT provisioning, delegated administration, factors, passwords).
  'user.provisioned',
  'user.invited',
  'user.deactivated',
  'user.reactivated',
  'user.mfa-enrolled',
  'user.mfa-reset',
  'user.roles-changed',
  'user.password-set',
  'user.password-link-created',
  // A password change on the account page refused (a form from elsewhere, a sign-in not recent enough).
  'user.password-refused',
  'user.updated',
  'user.erased',
  'group.provisioned',
  'group.updated',
  'group.deleted',
  'scim.refused',
  'organization.deprovisioned',
  // Access requests for AccessPolicy scopes that need approval, and their decisions.
  'accessrequest.created',
  'accessrequest.approved',
  'accessrequest.denied',
  'accessrequest.revoked',
  'accessrequest.expired',
  // Adaptive access (server/risk/): each scored sign-in or grant, by the action it led to, and the clients it paused.
  'risk.evaluated',
  'risk.stepped-up',
  'risk.denied',
  'client.suspended',
  'client.resumed',
  // Guided IdP setup in the portal (server/federation-setup/): runtime state until committed to git.
  'federation.inspected',
  'federation.draft-saved',
  'federation.draft-deleted',
  'federation.test-started',
  'federation.tested',
  'federation.enabled',
  'federation.disabled',
  // Passkeys (WebAuthn): enrolled, renamed or removed by their user, revoked by an administrator,
  // an enrolment refused, and a signature counter that went back (a cloned authenticator).
  'passkey.added',
  'passkey.renamed',
  'passkey.removed',
  'passkey.revoked',
  'passkey.refused',
  'passkey.counter-regression',
  // The notification outbox (server/notifications/): each message's delivery, the recipient as a keyed hash.
  'notification.sent',
  'notification.failed',
  // A message useless before it went out (its one-time link expired, used or replaced): never sent.
  'notification.expired',
  // Self-service recovery: a reset link asked for (whether or not the address has an account: the record says which).
  'user.password-reset-requested',
  // A partner administrator tightened its organization's second-factor policy (never looser than declared).
  'organization.mfa-tightened',
] as const;

/** Changes applied to a declared object (admin API, controller, CLI): `${kind}.${change}`. */
export const OBJECT_CHANGES = ['created', 'updated', 'deleted'] as const;
export type ObjectChangeAction = `${KindName}.${(typeof OBJECT_CHANGES)[number]}`;

/** Events on one declared object other than its changes, and on the objects that are not kinds (secrets, keys). */
export const OBJECT_ACTIONS = [
  'Secret.created',
  'Secret.updated',
  'Secret.deleted',
  'Client.secret-rotated',
  'IdPConnection.scim-token-rotated',
  'IdPConnection.scim-token-revoked',
  'SigningKey.rotated',
  'Organization.kill-switch',
  'Organization.tokens-ended',
  'Organization.certified',
  'Organization.contract-ending',
  'Organization.contract-ended',
  'Organization.certification-overdue',
] as const;

/** What a reconciler reports about a declared object without changing it (through its status): `${kind}.${report}`. */
export const OBJECT_REPORTS = ['drift-reported'] as const;
export type ObjectReportAction = `${KindName}.${(typeof OBJECT_REPORTS)[number]}`;

export type AuditAction = (typeof RUNTIME_ACTIONS)[number] | (typeof OBJECT_ACTIONS)[number] | ObjectChangeAction | ObjectReportAction;

export const objectChange = (kind: KindName, change: (typeof OBJECT_CHANGES)[number]): ObjectChangeAction => `${kind}.${change}`;

/** The whole vocabulary, for readers that validate or list actions. */
export const AUDIT_ACTIONS: readonly AuditAction[] = [...RUNTIME_ACTIONS, ...KINDS.flatMap((k) => OBJECT_CHANGES.map((c) => objectChange(k.kind, c))), ...OBJECT_ACTIONS, ...KINDS.flatMap((k) => OBJECT_REPORTS.map((r): ObjectReportAction => `${k.kind}.${r}`))];

const known = new Set<string>(AUDIT_ACTIONS);
export const isAuditAction = (action: string): action is AuditAction => known.has(action);
