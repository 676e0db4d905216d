import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import { clientAddress } from '../oidc/admission.ts';

/** Longest User-Agent kept: enough to tell browsers apart, not enough to bloat every record. */
export const USER_AGENT_LIMIT = 256;

/**
 * What a request tells about where it came from, recorded under `data.signals` of every
 * sign-in and token decision: the shape the risk engine (issue #21) reads back. Only what the
 * request itself shows; never a credential or a raw cookie.
 */
export interface Signals {
  /** The client's address after the trusted-proxy rules (X-Forwarded-For only from a trusted proxy). */
  ip: string;
  /** The User-Agent header, cut to USER_AGENT_LIMIT characters; absent when none was sent. */
  userAgent?: string;
  /** On browser sign-ins: the digest of the issuer's device cookie (server/risk/device.ts), never the cookie. */
  device?: string;
}

export function signalsOf(req: IncomingMessage, trustedProxies: BlockList | undefined, device?: string): Signals {
  const raw = req.headers['user-agent'];
  // Control characters would let a client forge line breaks in logs that print the record.
  const userAgent = typeof raw === 'string' ? raw.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, USER_AGENT_LIMIT) : '';
  return { ip: clientAddress(req, trustedProxies), ...(userAgent ? { userAgent } : {}), ...(device ? { device } : {}) };
}
