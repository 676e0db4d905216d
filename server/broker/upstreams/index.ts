import type { Clock } from '../../clock.ts';
import type { Store } from '../../store/index.ts';
import type { UpstreamSecrets } from '../secrets.ts';
import { OidcUpstreams } from './oidc.ts';
import { SamlUpstreams } from './saml.ts';
import type { Upstream, UpstreamType } from './upstream.ts';
import type { FetchGuardOptions } from './fetch-guard.ts';

export * from './upstream.ts';

export interface UpstreamOptions {
  clock: Clock;
  store: Store;
  secrets: Pick<UpstreamSecrets, 'value'>;
  /** Fetches SAML IdP metadata from a `metadataUrl` (tests replace it). */
  fetchMetadata?: (url: string) => Promise<string>;
  /** How the URLs of connections set up in the portal (not declared) are fetched: the private-address guard's settings. */
  untrusted?: FetchGuardOptions;
}

/** One upstream per connection type: a new type is a new entry here and a module beside this one. */
const FACTORIES = {
  oidc: (o: UpstreamOptions) => new OidcUpstreams(o.clock, o.secrets, o.untrusted),
  saml: (o: UpstreamOptions) => new SamlUpstreams(o.clock, o.fetchMetadata, (idp, id, expiresAt) => o.store.broker.rememberAssertion(idp, id, expiresAt, o.clock.now()), o.untrusted),
} satisfies Record<UpstreamType, (options: UpstreamOptions) => Upstream>;

export type Upstreams = { readonly [K in UpstreamType]: ReturnType<(typeof FACTORIES)[K]> };

/** The upstreams of one broker; each keeps its caches (discovery, JWKS, metadata) for the broker's life. */
export function createUpstreams(options: UpstreamOptions): Upstreams {
  return { oidc: FACTORIES.oidc(options), saml: FACTORIES.saml(options) };
}

export function isUpstreamType(type: string): type is UpstreamType {
  return Object.hasOwn(FACTORIES, type);
}
