import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Provider } from 'oidc-provider';
import type { UserAdmission, AdmissionRules } from '../oidc/admission.ts';
import type { KeyRing } from '../oidc/keys.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';

/** One built issuer: its provider, and what its gates read on every request. */
export interface Issuer {
  snapshot: IssuerSnapshot;
  provider: Provider;
  /** The provider inside the server's Koa app (pages, and any request the direct path leaves). */
  mounted: Middleware;
  /** The provider as a plain request listener, for a request whose URL is already relative to the issuer. */
  direct: (req: IncomingMessage, res: ServerResponse) => void;
  ring: KeyRing;
  /** The issuer identifier: `{publicUrl}{path}`, or a vanity origin (`{scheme}://{host[:port]}`). */
  url: string;
  /** `url`'s Host and scheme, read once: every request is pinned to them. */
  origin: IssuerOrigin;
  /** The organization's declared networks and rate (none at a namespace's shared issuer). */
  admission: AdmissionRules;
  /** Private-use URI schemes of its native clients' redirect URIs (`com.example.app:`), for pages' form-action. */
  formSchemes: string[];
  /** At the shared issuer: the signed-in user's organization's networks and rate. */
  admitUser: UserAdmission;
}

export interface IssuerOrigin {
  host: string;
  scheme: string;
}

export function originOf(issuerUrl: string): IssuerOrigin {
  const { host, protocol } = new URL(issuerUrl);
  return { host, scheme: protocol.slice(0, -1) };
}
