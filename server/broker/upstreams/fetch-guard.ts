import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * How the server fetches a URL a partner administrator typed. The address is checked when the
 * socket connects (the `lookup` hook), not before, so a name that resolves to a public address
 * for the check and to 169.254.169.254 for the request (DNS rebinding) is still refused.
 */
export interface FetchGuardOptions {
  /** Allows `http:` to loopback addresses (127.0.0.0/8, ::1) only: tests and `npm run demo`. Never on in production. */
  allowLoopbackHttp?: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  maxRedirects?: number;
}

export class FetchRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchRefused';
  }
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Addresses a server-side fetch must never reach: private, loopback, link-local (cloud metadata), CGNAT, multicast, reserved. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

function family(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

export function isPrivateAddress(address: string): boolean {
  const a = unmapped(address);
  return PRIVATE.check(a, family(a));
}

export function isLoopbackAddress(address: string): boolean {
  const a = unmapped(address);
  return LOOPBACK.check(a, family(a));
}

/** What the URL may be before anything is resolved: https, or http to a loopback host when allowed; no credentials. */
export function checkUrl(raw: string, options: FetchGuardOptions): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FetchRefused(`"${raw.slice(0, 200)}" is not a URL`);
  }
  if (url.username || url.password) throw new FetchRefused('a URL with a user name or password is not fetched');
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:') {
    if (!options.allowLoopbackHttp) throw new FetchRefused(`only https URLs are fetched (${url.origin} is http)`);
    return url;
  }
  throw new FetchRefused(`only https URLs are fetched (not ${url.protocol.replace(/:$/, '')})`);
}

function guardedLookup(url: URL, options: FetchGuardOptions): LookupFunction {
  const http = url.protocol === 'http:';
  return (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 4);
      const list = Array.isArray(addresses) ? addresses : [];
      // Every address the name has must be acceptable: otherwise the connection could pick the bad one.
      for (const a of list) {
        const loopbackAllowed = options.allowLoopbackHttp && isLoopbackAddress(a.address);
        if (http && !loopbackAllowed) return callback(new FetchRefused(`${hostname} resolves to ${a.address}: http is fetched from loopback addresses only`), '', 4);
        if (!loopbackAllowed && isPrivateAddress(a.address)) return callback(new FetchRefused(`${hostname} resolves to ${a.address}, a private or reserved address, which is never fetched`), '', 4);
      }
      const first = list[0];
      if (!first) return callback(new FetchRefused(`${hostname} has no address`), '', 4);
      if ((lookupOptions as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, first.address, first.family);
    });
  };
}

/** An IP literal in the URL is judged without a lookup (Node does not call `lookup` for one). */
function checkLiteral(url: URL, options: FetchGuardOptions): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host)) return;
  const loopbackAllowed = options.allowLoopbackHttp && isLoopbackAddress(host);
  if (url.protocol === 'http:' && !loopbackAllowed) throw new FetchRefused(`http is fetched from loopback addresses only (not ${host})`);
  if (!loopbackAllowed && isPrivateAddress(host)) throw new FetchRefused(`${host} is a private or reserved address, which is never fetched`);
}

export interface FetchedDocument {
  url: string;
  status: number;
  contentType: string;
  body: string;
}

function once(url: URL, accept: string, options: Required<Pick<FetchGuardOptions, 'timeoutMs' | 'maxBytes'>> & FetchGuardOptions, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ res: IncomingMessage; body: string }> {
  checkLiteral(url, options);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers = { accept, 'user-agent': 'gatehouse-federation-setup', ...(init.headers ?? {}), ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}) };
    const req = request(url, { method: init.method ?? 'GET', headers, lookup: guardedLookup(url, options), timeout: options.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          req.destroy(new FetchRefused(`${url.origin}${url.pathname} answered more than ${Math.round(options.maxBytes / 1024)} KiB, which is never read`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    const deadline = setTimeout(() => req.destroy(new FetchRefused(`${url.origin} did not answer within ${options.timeoutMs / 1000} s`)), options.timeoutMs);
    req.on('timeout', () => req.destroy(new FetchRefused(`${url.origin} did not answer within ${options.timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.on('close', () => clearTimeout(deadline));
    req.end(init.body);
  });
}

/**
 * GETs a partner-supplied URL: https only (http to loopback when allowed), never a private or
 * reserved address (checked at connect time, on every redirect hop), a deadline for the whole
 * exchange, and a bound on the body.
 */
export async function guardedFetch(raw: string, accept: string, options: FetchGuardOptions = {}): Promise<FetchedDocument> {
  const settings = { timeoutMs: 10_000, maxBytes: 1_048_576, maxRedirects: 3, ...options };
  let url = checkUrl(raw, settings);
  for (let hop = 0; ; hop++) {
    let answer: { res: IncomingMessage; body: string };
    try {
      answer = await once(url, accept, settings);
    } catch (error) {
      if (error instanceof FetchRefused) throw error;
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof FetchRefused) throw cause;
      throw new FetchRefused(`${url.origin} could not be reached (${(error as { code?: string }).code ?? (error as Error).message})`);
    }
    const { res, body } = answer;
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      if (hop >= settings.maxRedirects) throw new FetchRefused(`${raw.slice(0, 200)} redirects more than ${settings.maxRedirects} times`);
      // Each hop is judged as the first one was: a redirect to http or to a private address is refused.
      url = checkUrl(new URL(res.headers.location, url).href, settings);
      continue;
    }
    return { url: url.href, status, contentType: String(res.headers['content-type'] ?? ''), body };
  }
}

/**
 * The same guard as a `fetch` for the libraries that talk to a partner's IdP (openid-client's
 * and jose's `customFetch`): one request, no redirects followed (a 3xx is handed back, which they
 * refuse), every address checked at connect time.
 */
export function guardedFetchFunction(options: FetchGuardOptions = {}): (url: string, init?: { method?: string; headers?: unknown; body?: unknown; signal?: unknown }) => Promise<Response> {
  const settings = { timeoutMs: 10_000, maxBytes: 1_048_576, ...options };
  return async (raw, init = {}) => {
    const url = checkUrl(raw, settings);
    const headers: Record<string, string> = {};
    new Headers(init.headers as HeadersInit | undefined).forEach((value, key) => void (headers[key] = value));
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    let answer: { res: IncomingMessage; body: string };
    try {
      answer = await once(url, headers.accept ?? '*/*', settings, { method: init.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}) });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      throw error instanceof FetchRefused ? error : cause instanceof FetchRefused ? cause : new FetchRefused(`${url.origin} could not be reached (${(error as { code?: string }).code ?? (error as Error).message})`);
    }
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(answer.res.headers)) if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
    const status = answer.res.statusCode ?? 502;
    return new Response([101, 204, 205, 304].includes(status) ? null : answer.body, { status, headers: responseHeaders });
  };
}
