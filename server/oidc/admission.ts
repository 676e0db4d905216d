import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { EffectiveSettings, Source } from '../../api/index.ts';

/** Where and how often an organization's partner may call: its effective `network` and `limits` (api/effective.ts). */
export interface AdmissionRules {
  /** Undefined: every network is admitted. */
  networks: BlockList | undefined;
  /** Undefined: no limit. */
  requestsPerMinute: number | undefined;
  /** The declared countries (geo-fencing, server/risk/geo.ts); undefined: every country. */
  countries: CountryRules | undefined;
}

/** `network.allowedCountries` (an address placed in none of them is refused, as is one placed nowhere) and `deniedCountries`. */
export interface CountryRules {
  allowed: ReadonlySet<string> | undefined;
  denied: ReadonlySet<string> | undefined;
}

/** Whether the country an address is placed in (undefined: nowhere, such as a private address) passes the rules. */
export function admitsCountry(rules: CountryRules | undefined, country: string | undefined): boolean {
  if (!rules) return true;
  if (rules.allowed && (country === undefined || !rules.allowed.has(country))) return false;
  return !(country !== undefined && rules.denied?.has(country));
}

/**
 * A BlockList of CIDR blocks ("203.0.113.0/24", "2001:db8::/32"), and the blocks it could not
 * read. Those are left out, which admits less, never more: the schema's IPv6 pattern is looser
 * than an address parser.
 */
export function networksOf(cidrs: readonly string[]): { list: BlockList; unreadable: string[] } {
  const list = new BlockList();
  const unreadable: string[] = [];
  for (const cidr of cidrs) {
    const [address = '', bits] = cidr.split('/');
    const family = isIP(address);
    const prefix = Number(bits);
    if (family === 0 || bits === undefined || !/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) unreadable.push(cidr);
    else list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return { list, unreadable };
}

const declaredBy = (organization: string, source: Source) => (source === 'organization' ? `Organization ${organization}` : source.startsWith('template:') ? `OrganizationTemplate ${source.slice(9)}` : `Organization ${source.slice(7)}`);

/**
 * An organization's effective networks (its own blocks narrowed to its parents') and rate
 * (the lowest of its own and its parents'). No settings (no organization): everything is
 * admitted. `problems` names each CIDR block left out, by object and field, for the log.
 */
export function admissionRules(settings: EffectiveSettings | undefined): AdmissionRules & { problems: string[] } {
  const cidrs = settings?.allowedCidrs;
  const networks = cidrs ? networksOf(cidrs.value) : undefined;
  const where = cidrs ? declaredBy(settings.organization ?? '', cidrs.source) : '';
  const allowed = settings?.allowedCountries?.value;
  const denied = settings?.deniedCountries?.value;
  return {
    networks: networks?.list,
    requestsPerMinute: settings?.requestsPerMinute?.value,
    countries: allowed || denied?.length ? { allowed: allowed ? new Set(allowed) : undefined, denied: denied?.length ? new Set(denied) : undefined } : undefined,
    problems: (networks?.unreadable ?? []).map((cidr) => `${where}: spec.network.allowedCidrs: "${cidr}" is not a CIDR block; it admits no address`),
  };
}

/** An IPv4 address in IPv6 form (`::ffff:192.0.2.1`, as a dual-stack socket reports it) as the IPv4 address. */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function contains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The address a request came from. The socket's peer, unless that peer is one of the
 * `trustedProxies`: then X-Forwarded-For is read from the right, past every trusted proxy, and
 * the first hop that is not one is the client (what a client writes further left is its own
 * claim, and is never believed). A hop that is not an IP address is returned as it is, so
 * that no network admits it.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: BlockList | undefined): string {
  // A request refused mid-body (413) has its socket detached already: node sets it to null.
  const peer = plain((req.socket as IncomingMessage['socket'] | null)?.remoteAddress ?? '');
  if (!trustedProxies || !contains(trustedProxies, peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((hop) => plain(hop.trim()))
    .filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    client = hops[i]!;
    if (!contains(trustedProxies, client)) break;
  }
  return client;
}

/** Whether `address` lies in one of `networks` (no networks declared: every address does). */
export function admits(networks: BlockList | undefined, address: string): boolean {
  return !networks || contains(networks, address);
}

/**
 * Requests per minute per organization, as a token bucket that holds a minute's worth and
 * refills continuously: a partner may burst up to its limit, then goes on at its rate. Kept
 * in memory, so each replica counts on its own.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; refusedSince: number | undefined }>();
  private readonly maxKeys: number;

  constructor(options: { maxKeys?: number } = {}) {
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /**
   * Takes one request from `key`'s bucket. Refused: how many seconds until one is free, and
   * whether this is the first refusal since the bucket last admitted one (the one to audit).
   */
  take(key: string, perMinute: number, now: number): { ok: true } | { ok: false; retryAfterSeconds: number; first: boolean } {
    const perMs = perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = { tokens: perMinute, at: now, refusedSince: undefined };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(perMinute, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refusedSince = undefined;
      return { ok: true };
    }
    const first = bucket.refusedSince === undefined;
    bucket.refusedSince ??= now;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)), first };
  }
}

/**
 * Why a user's own organization turns a request away at the namespace's shared issuer:
 * outside its networks (403) or beyond its rate (429). Already audited when returned.
 */
export interface UserRefusal {
  status: 403 | 429;
  error: 'access_denied' | 'too_many_requests';
  heading: string;
  detail: string;
  retryAfterSeconds?: number;
}

/** At the shared issuer: the user's organization's networks and rate, for one request; undefined admits it. */
export type UserAdmission = (organization: string, req: IncomingMessage, path: string) => Promise<UserRefusal | undefined>;
