import type { AuditAction } from './actions.ts';
import type { ChainRecord } from './chain.ts';

/**
 * Audit records as OCSF 1.1 events for a SIEM: sign-ins and token decisions as
 * Authentication (3002), changes to user accounts as Account Change (3001), scopes given or
 * taken by an access-request decision as User Access Management (3005). Records of
 * other kinds (configuration changes, lifecycle notices) have no class here and are left
 * out of the OCSF export; the NDJSON export carries everything.
 */
export const OCSF_VERSION = '1.1.0';

const IAM = { category_uid: 3, category_name: 'Identity & Access Management' };

interface ClassMapping {
  class_uid: 3001 | 3002 | 3005;
  class_name: string;
  activity_id: number;
  activity_name: string;
  auth_protocol_id?: number;
  auth_protocol?: string;
}

const AUTHENTICATION = { class_uid: 3002, class_name: 'Authentication' } as const;
const ACCOUNT_CHANGE = { class_uid: 3001, class_name: 'Account Change' } as const;
const USER_ACCESS = { class_uid: 3005, class_name: 'User Access Management' } as const;
const OPENID = { auth_protocol_id: 4, auth_protocol: 'OpenID' };
const OAUTH = { auth_protocol_id: 6, auth_protocol: 'OAUTH 2.0' };

/**
 * Our action names → OCSF class and activity (activity ids from the OCSF 1.1 schema). Keyed
 * by the audit vocabulary, so a name nothing writes cannot be mapped (sign-out is not audited,
 * so there is no Logoff).
 */
const MAPPINGS: Partial<Record<AuditAction, ClassMapping>> = {
  'login.succeeded': { ...AUTHENTICATION, activity_id: 1, activity_name: 'Logon', ...OPENID },
  'login.failed': { ...AUTHENTICATION, activity_id: 1, activity_name: 'Logon', ...OPENID },
  'login.refused': { ...AUTHENTICATION, activity_id: 1, activity_name: 'Logon', ...OPENID },
  // An access token for an API is the OAuth counterpart of a service ticket; a refresh renews it.
  'token.issued': { ...AUTHENTICATION, activity_id: 4, activity_name: 'Service Ticket Request', ...OAUTH },
  'token.refused': { ...AUTHENTICATION, activity_id: 4, activity_name: 'Service Ticket Request', ...OAUTH },
  'token.refreshed': { ...AUTHENTICATION, activity_id: 5, activity_name: 'Service Ticket Renew', ...OAUTH },
  'token.refresh-reuse-detected': { ...AUTHENTICATION, activity_id: 5, activity_name: 'Service Ticket Renew', ...OAUTH },
  'User.created': { ...ACCOUNT_CHANGE, activity_id: 1, activity_name: 'Create' },
  'user.invited': { ...ACCOUNT_CHANGE, activity_id: 1, activity_name: 'Create' },
  'user.reactivated': { ...ACCOUNT_CHANGE, activity_id: 2, activity_name: 'Enable' },
  'user.password-set': { ...ACCOUNT_CHANGE, activity_id: 3, activity_name: 'Password Change' },
  'user.password-link-created': { ...ACCOUNT_CHANGE, activity_id: 4, activity_name: 'Password Reset' },
  'user.password-reset-requested': { ...ACCOUNT_CHANGE, activity_id: 4, activity_name: 'Password Reset' },
  'user.deactivated': { ...ACCOUNT_CHANGE, activity_id: 5, activity_name: 'Disable' },
  'User.deleted': { ...ACCOUNT_CHANGE, activity_id: 6, activity_name: 'Delete' },
  'user.mfa-reset': { ...ACCOUNT_CHANGE, activity_id: 11, activity_name: 'MFA Factor Disable' },
  'passkey.added': { ...ACCOUNT_CHANGE, activity_id: 10, activity_name: 'MFA Factor Enable' },
  'passkey.removed': { ...ACCOUNT_CHANGE, activity_id: 11, activity_name: 'MFA Factor Disable' },
  'passkey.revoked': { ...ACCOUNT_CHANGE, activity_id: 11, activity_name: 'MFA Factor Disable' },
  'User.updated': { ...ACCOUNT_CHANGE, activity_id: 99, activity_name: 'Other' },
  // The privileges are the scopes an approval gives; a request or a denial changes none.
  'accessrequest.approved': { ...USER_ACCESS, activity_id: 1, activity_name: 'Assign Privileges' },
  'accessrequest.revoked': { ...USER_ACCESS, activity_id: 2, activity_name: 'Revoke Privileges' },
  'accessrequest.expired': { ...USER_ACCESS, activity_id: 2, activity_name: 'Revoke Privileges' },
  'user.updated': { ...ACCOUNT_CHANGE, activity_id: 99, activity_name: 'Other' },
  'user.erased': { ...ACCOUNT_CHANGE, activity_id: 6, activity_name: 'Delete' },
};

export type OcsfEvent = Record<string, unknown> & { class_uid: number; activity_id: number; type_uid: number; time: number };

/** `data.signals` (server/risk/signals.ts) as OCSF's source endpoint and HTTP request. */
function endpointOf(data: Record<string, unknown>): Record<string, unknown> {
  const signals = data.signals as { ip?: unknown; userAgent?: unknown } | undefined;
  if (!signals || typeof signals !== 'object') return {};
  return {
    ...(typeof signals.ip === 'string' ? { src_endpoint: { ip: signals.ip } } : {}),
    ...(typeof signals.userAgent === 'string' ? { http_request: { user_agent: signals.userAgent } } : {}),
  };
}

/**
 * Risk decisions and the client suspensions they lead to, as OCSF Detection Finding (2004):
 * the finding's title names the action, its types the rules that fired, `risk_score` the
 * score. A decision where no rule fired is a finding of no risk (severity Informational).
 */
const DETECTIONS: Partial<Record<AuditAction, string>> = {
  'risk.evaluated': 'Risk evaluated: allowed',
  'risk.stepped-up': 'Risk evaluated: second factor required',
  'risk.denied': 'Risk evaluated: denied',
  'client.suspended': 'Client suspended by the risk policy',
  'client.resumed': 'Client suspension lifted',
};

/** OCSF's risk levels (0 Info … 4 Critical) and severities (1 Informational … 5 Critical) for a decision. */
function detectionLevel(action: AuditAction, score: number): { risk: number; severity: number } {
  if (action === 'client.suspended') return { risk: 3, severity: 4 };
  if (action === 'risk.denied') return { risk: 3, severity: 4 };
  if (action === 'risk.stepped-up') return { risk: 2, severity: 3 };
  if (action === 'client.resumed' || score <= 0) return { risk: 0, severity: 1 };
  return { risk: 1, severity: 2 };
}
const RISK_LEVELS = ['Info', 'Low', 'Medium', 'High', 'Critical'];
const SEVERITIES = ['Unknown', 'Informational', 'Low', 'Medium', 'High', 'Critical'];

function detectionFinding(record: ChainRecord, action: AuditAction, title: string): OcsfEvent {
  const data = record.data as { score?: unknown; rules?: { rule?: unknown; weight?: unknown; reason?: unknown }[]; action?: unknown; stage?: unknown };
  const score = typeof data.score === 'number' ? data.score : 0;
  const rules = Array.isArray(data.rules) ? data.rules.filter((r) => r && typeof r.rule === 'string') : [];
  const level = detectionLevel(action, score);
  return {
    category_uid: 2,
    category_name: 'Findings',
    class_uid: 2004,
    class_name: 'Detection Finding',
    activity_id: action === 'client.resumed' ? 3 : 1,
    activity_name: action === 'client.resumed' ? 'Close' : 'Create',
    type_uid: 200400 + (action === 'client.resumed' ? 3 : 1),
    type_name: `Detection Finding: ${action === 'client.resumed' ? 'Close' : 'Create'}`,
    time: record.at,
    severity_id: level.severity,
    severity: SEVERITIES[level.severity],
    risk_level_id: level.risk,
    risk_level: RISK_LEVELS[level.risk],
    ...(typeof data.score === 'number' ? { risk_score: data.score } : {}),
    status_id: 1,
    status: 'New',
    finding_info: {
      uid: `${record.seq}`,
      title,
      ...(rules.length ? { types: rules.map((r) => String(r.rule)), desc: rules.map((r) => `${String(r.rule)} (+${String(r.weight)}): ${String(r.reason)}`).join('; ') } : {}),
      analytic: { name: 'Gatehouse risk rules', type_id: 1, type: 'Rule' },
    },
    ...(record.subject ? { user: { uid: record.subject, name: record.subject, type_id: 1, type: 'User' } } : {}),
    actor: { user: { uid: record.actor, name: record.actor } },
    ...endpointOf(record.data),
    ...(record.client ? { service: { name: record.client, uid: record.client } } : {}),
    metadata: { version: OCSF_VERSION, product: { name: 'Gatehouse', vendor_name: 'Gatehouse' }, uid: `${record.seq}`, sequence: record.seq, log_name: 'audit', ...(record.namespace ? { tenant_uid: record.namespace } : {}), original_time: new Date(record.at).toISOString() },
    unmapped: { action: record.action, organization: record.organization, namespace: record.namespace, hash: record.hash, prev_hash: record.prevHash, data: record.data },
  };
}

/** The actions the OCSF export carries; the rest are left out of it. */
export const OCSF_ACTIONS = [...Object.keys(MAPPINGS), ...Object.keys(DETECTIONS)] as AuditAction[];

export function toOcsf(record: ChainRecord): OcsfEvent | undefined {
  const detection = Object.hasOwn(DETECTIONS, record.action) ? DETECTIONS[record.action as AuditAction] : undefined;
  if (detection) return detectionFinding(record, record.action as AuditAction, detection);
  // Records read back may carry any name (older records too): only the vocabulary's are mapped.
  const m = Object.hasOwn(MAPPINGS, record.action) ? MAPPINGS[record.action as AuditAction] : undefined;
  if (!m) return undefined;
  const success = record.outcome === 'success';
  const detail = typeof record.data.reason === 'string' ? record.data.reason : typeof record.data.error === 'string' ? record.data.error : undefined;
  const subject = record.subject ?? (m.class_uid === 3001 ? record.name : null);
  // Authentication requires a user: a client-credentials grant authenticates the client itself.
  const user = subject ? { uid: subject, name: subject, type_id: 1, type: 'User' } : { uid: record.client ?? record.actor, name: record.client ?? record.actor, type_id: 99, type: 'Other' };
  return {
    ...IAM,
    class_uid: m.class_uid,
    class_name: m.class_name,
    activity_id: m.activity_id,
    activity_name: m.activity_name,
    type_uid: m.class_uid * 100 + m.activity_id,
    type_name: `${m.class_name}: ${m.activity_name}`,
    time: record.at,
    severity_id: success ? 1 : 3,
    severity: success ? 'Informational' : 'Medium',
    status_id: success ? 1 : 2,
    status: success ? 'Success' : 'Failure',
    ...(detail ? { status_detail: detail } : {}),
    ...(m.auth_protocol_id !== undefined ? { auth_protocol_id: m.auth_protocol_id, auth_protocol: m.auth_protocol } : {}),
    user,
    ...(m.class_uid === 3005 && Array.isArray(record.data.scopes) ? { privileges: record.data.scopes.map(String) } : {}),
    actor: { user: { uid: record.actor, name: record.actor } },
    ...endpointOf(record.data),
    ...(record.client ? { service: { name: record.client, uid: record.client } } : {}),
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Gatehouse', vendor_name: 'Gatehouse' },
      uid: `${record.seq}`,
      sequence: record.seq,
      log_name: 'audit',
      ...(record.namespace ? { tenant_uid: record.namespace } : {}),
      original_time: new Date(record.at).toISOString(),
    },
    unmapped: { action: record.action, organization: record.organization, namespace: record.namespace, hash: record.hash, prev_hash: record.prevHash, data: record.data },
  };
}
