import type { Context } from 'koa';
import type { OrganizationObject } from '../../api/index.ts';
import type { ClientSecrets } from '../clients/secrets.ts';
import type { Clock } from '../clock.ts';
import type { AdminGuard } from '../governance/guard.ts';
import type { Role } from '../governance/policy.ts';
import type { GovernanceService } from '../governance/service.ts';
import type { Store } from '../store/index.ts';
import type { FederationSetup } from '../federation-setup/setup.ts';
import type { Passkeys } from '../passkeys/service.ts';
import type { AccessRequestService } from '../governance/access-request-routes.ts';

/** Who is signed in to an organization's portal: a user of that organization with an administrator role. */
export interface PortalPrincipal {
  namespace: string;
  organization: string;
  /** The user's id in the namespace (its `sub`). */
  subject: string;
  roles: Role[];
}

/** What the server lends the portal's pages. */
export interface PortalServices {
  store: Store;
  clock: Clock;
  /** The admin API's guard: pages call the same checks (ctx.state.principal is the portal's user). */
  guard: AdminGuard;
  /** The admin API's user administration and certification, guardrails included. */
  governance: GovernanceService;
  clientSecrets: ClientSecrets;
  publicUrl: () => string;
  /** Guided IdP setup (drafts, test sign-ins, enabling): the admin API's `…/sso` service. */
  federationSetup: FederationSetup;
  /** WebAuthn ceremonies (the account page's passkeys). */
  passkeys?: Passkeys;
  /** The admin API's access requests (listing and deciding, guardrails included). */
  accessRequests?: AccessRequestService;
}

/** One request to one page, signed in, CSRF already checked for a POST. */
export interface PortalRequest {
  ctx: Context;
  principal: PortalPrincipal;
  organization: OrganizationObject;
  services: PortalServices;
  /** Path segments after the page's own (`/users/ana/roles` on page `users` → `['ana', 'roles']`). */
  rest: string[];
  /** The POSTed form (urlencoded); empty for a GET. */
  form: URLSearchParams;
  /** The portal's base path as the browser sees it; `url('users')` → `${base}/users`. */
  base: string;
  /** The portal's base URL as the browser sees it (its origin is the passkeys' relying party). */
  baseUrl: string;
  url(path?: string): string;
  /** The hidden CSRF field every form of a page must carry. */
  csrfField: string;
  /** Writes the branded page (layout, nav, sign-out) with `body` as its main content (HTML: escape what you interpolate). */
  render(heading: string, body: string, options?: { status?: number; notice?: string; error?: string }): void;
  /** 303 to another portal path, with a message shown once on arrival (a fixed text: it travels in the query). */
  redirect(path: string, notice?: string): void;
}

export interface PortalPage {
  /** The first path segment after `/portal/` ('' for the portal's home). */
  path: string;
  /** In the navigation, in `order`; absent: reachable by link only. */
  nav?: { label: string; order: number };
  /** Roles that may open the page (any one); absent: every role that may sign in. */
  roles?: readonly Role[];
  get(request: PortalRequest): Promise<void>;
  post?(request: PortalRequest): Promise<void>;
}

/** Declares a portal page (typed identity: the registry in pages/index.ts lists it). */
export function portalPage(page: PortalPage): PortalPage {
  return page;
}
