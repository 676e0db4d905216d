import type { IdPConnectionObject } from '../../../api/index.ts';
import type { UpstreamIdentity } from '../provision.ts';

export type { UpstreamIdentity } from '../provision.ts';

/** The connection types that send the browser to a partner's IdP; `directory` is the local password form. */
export type UpstreamType = 'oidc' | 'saml';

/**
 * Why a partner's IdP could not be asked, or its answer was refused: the `reason` of the
 * `login.refused` audit record, and what chooses the page's status and heading. The names
 * are the ones audit records have carried; library error codes are mapped onto them (and
 * kept as `code`), and an error the IdP sends is `idp-error` with its code.
 */
export const UPSTREAM_FAILURE_REASONS = [
  // The IdP cannot be asked.
  'secret-missing',
  'discovery-failed',
  'metadata-unreachable',
  'bad-metadata',
  'no-jwks',
  // The answer names no sign-in in progress, or another one.
  'state-mismatch',
  'unknown-relay-state',
  'in-response-to-mismatch',
  'nonce-mismatch',
  // The answer cannot be read.
  'malformed-response',
  'malformed-xml',
  'doctype',
  'xml-comment',
  'no-assertion',
  // The answer is not the IdP's, not for us, not now, or not the first time.
  'invalid-signature',
  'wrong-issuer',
  'wrong-audience',
  'wrong-recipient',
  'wrong-destination',
  'expired',
  'replayed-assertion',
  // The IdP said no, or failed.
  'idp-error',
  'token-refused',
  'userinfo-failed',
  'upstream-refused',
  'saml-refused',
] as const;
export type UpstreamFailureReason = (typeof UPSTREAM_FAILURE_REASONS)[number];

export class UpstreamError extends Error {
  readonly reason: UpstreamFailureReason;
  /** The library's or the IdP's own error code, for the audit record. */
  readonly code: string | undefined;
  constructor(reason: UpstreamFailureReason, message: string, code?: string) {
    super(message);
    this.name = 'UpstreamError';
    this.reason = reason;
    this.code = code;
  }
}

export interface UpstreamFailure {
  reason: UpstreamFailureReason;
  /** Shown on the sign-in page; says what was refused without any secret. */
  message: string;
  code?: string;
}

export type UpstreamResult<T> = { ok: true; value: T } | { ok: false; failure: UpstreamFailure };

/** Where this connection's upstream answers (connectionEndpoints). */
export interface ConnectionEndpoints {
  redirectUri: string;
  acsUrl: string;
  metadataUrl: string;
}

export interface UpstreamStartRequest {
  connection: IdPConnectionObject;
  namespace: string;
  endpoints: ConnectionEndpoints;
  /** The address the user typed, passed on where the protocol has a place for it. */
  loginHint: string;
}

export interface UpstreamStarted {
  /** Where the browser goes: the IdP's authorization endpoint, or an HTTP-Redirect AuthnRequest. */
  url: string;
  /** Names this sign-in in the IdP's answer (OIDC `state`, SAML `RelayState`): the key of the pending sign-in. */
  correlation: string;
  /** What the answer is checked against; kept with the pending sign-in, so any replica can finish it. */
  expected: Record<string, string>;
}

export interface UpstreamFinishRequest {
  connection: IdPConnectionObject;
  namespace: string;
  endpoints: ConnectionEndpoints;
  /** As returned by `start` for this sign-in (read back from the store). */
  expected: Record<string, string>;
  /** What the IdP sent: the callback's query (OIDC), the HTTP-POST form (SAML). */
  params: URLSearchParams;
}

/**
 * One kind of partner IdP, as Dex has connectors: `start` builds the browser's way to the
 * IdP for one sign-in, `finish` checks what comes back and answers with the identity the
 * IdP vouched for, or why it was refused. The broker's stage machine does the rest (the
 * pending sign-in, provisioning, step-up) the same way for every type.
 */
export interface Upstream {
  readonly type: UpstreamType;
  start(request: UpstreamStartRequest): Promise<UpstreamResult<UpstreamStarted>>;
  finish(request: UpstreamFinishRequest): Promise<UpstreamResult<UpstreamIdentity>>;
}

/** Runs one step, turning the UpstreamError it throws into a typed failure. */
export async function attempt<T>(step: () => Promise<T>): Promise<UpstreamResult<T>> {
  try {
    return { ok: true, value: await step() };
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return { ok: false, failure: { reason: error.reason, message: error.message, ...(error.code ? { code: error.code } : {}) } };
  }
}
