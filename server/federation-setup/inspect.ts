import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { parseIdpMetadata } from '../broker/upstreams/saml.ts';
import { UpstreamError } from '../broker/upstreams/upstream.ts';
import { FetchRefused, guardedFetch, type FetchGuardOptions } from '../broker/upstreams/fetch-guard.ts';

/** Certificates that expire sooner than this are flagged, so the partner rotates before sign-in stops. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, as IdP consoles show it. */
  fingerprint: string;
  /** Where it was found: `metadata`, or a JWKS key's `kid`. */
  from: string;
  status: 'valid' | 'expiring' | 'expired' | 'not-yet-valid';
}

export interface Inspection {
  type: 'oidc' | 'saml';
  /** The OIDC issuer, or the SAML entity ID. */
  entityId: string;
  endpoints: Record<string, string>;
  certificates: CertificateSummary[];
  /** JWKS keys as published (OIDC), without key material. */
  keys?: { kid?: string; kty: string; alg?: string; use?: string }[];
  warnings: string[];
  /** The SAML metadata as read (kept with a draft, so its test signs in against what was shown). */
  metadataXml?: string;
}

/** Why an inspection failed, in words a partner administrator can act on. */
export class InspectionFailed extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'InspectionFailed';
    this.field = field;
  }
}

export const InspectRequest = z.union([z.strictObject({ type: z.literal('oidc'), issuer: z.string().min(1).max(2048) }), z.strictObject({ type: z.literal('saml'), metadataUrl: z.string().min(1).max(2048) }), z.strictObject({ type: z.literal('saml'), metadataXml: z.string().min(1).max(1_048_576) })]);
export type InspectRequest = z.infer<typeof InspectRequest>;

function summarise(pem: string, from: string, now: number): CertificateSummary {
  const cert = new X509Certificate(pem);
  const notAfter = Date.parse(cert.validTo);
  const notBefore = Date.parse(cert.validFrom);
  const status = notAfter <= now ? 'expired' : notBefore > now ? 'not-yet-valid' : notAfter - now < EXPIRY_WARNING_DAYS * DAY_MS ? 'expiring' : 'valid';
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: new Date(notBefore).toISOString(),
    notAfter: new Date(notAfter).toISOString(),
    fingerprint: cert.fingerprint256,
    from,
    status,
  };
}

function certificateWarnings(certs: CertificateSummary[], now: number): string[] {
  const out: string[] = [];
  for (const c of certs) {
    const days = Math.floor((Date.parse(c.notAfter) - now) / DAY_MS);
    if (c.status === 'expired') out.push(`The certificate "${c.subject}" expired on ${c.notAfter.slice(0, 10)}: signatures made with it are refused.`);
    else if (c.status === 'expiring') out.push(`The certificate "${c.subject}" expires on ${c.notAfter.slice(0, 10)} (in ${days} day${days === 1 ? '' : 's'}): publish its successor before then.`);
    else if (c.status === 'not-yet-valid') out.push(`The certificate "${c.subject}" is not valid before ${c.notBefore.slice(0, 10)}.`);
  }
  if (certs.length > 0 && certs.every((c) => c.status === 'expired' || c.status === 'not-yet-valid')) out.push('No certificate is valid now: no sign-in through this IdP can succeed.');
  return out;
}

const Discovery = z.looseObject({
  issuer: z.string(),
  authorization_endpoint: z.string(),
  token_endpoint: z.string().optional(),
  userinfo_endpoint: z.string().optional(),
  jwks_uri: z.string(),
  end_session_endpoint: z.string().optional(),
});
const Jwks = z.looseObject({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional(), use: z.string().optional(), x5c: z.array(z.string()).optional() })).max(100) });

function json<T>(schema: z.ZodType<T>, body: string, field: string, what: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InspectionFailed(field, `${what} is not JSON`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new InspectionFailed(field, `${what} lacks ${result.error.issues.map((i) => i.path.join('.') || 'its fields').join(', ')}`);
  return result.data;
}

async function fetchText(url: string, accept: string, field: string, what: string, guard: FetchGuardOptions): Promise<string> {
  try {
    const doc = await guardedFetch(url, accept, guard);
    if (doc.status !== 200) throw new InspectionFailed(field, `${what} at ${doc.url} answered HTTP ${doc.status}`);
    return doc.body;
  } catch (error) {
    if (error instanceof FetchRefused) throw new InspectionFailed(field, `${what}: ${error.message}`);
    throw error;
  }
}

/**
 * Reads an OpenID Connect issuer as the broker will use it: its discovery document (whose
 * `issuer` must be the URL given, OIDC Discovery §4.3) and its JWKS.
 */
export async function inspectOidc(issuer: string, guard: FetchGuardOptions, now: number): Promise<Inspection> {
  const base = issuer.replace(/\/+$/, '');
  const discovery = json(Discovery, await fetchText(`${base}/.well-known/openid-configuration`, 'application/json', 'issuer', 'The discovery document', guard), 'issuer', 'The discovery document');
  if (discovery.issuer.replace(/\/+$/, '') !== base) throw new InspectionFailed('issuer', `The discovery document names the issuer ${discovery.issuer}, not ${issuer}: use the issuer it names`);
  const jwks = json(Jwks, await fetchText(discovery.jwks_uri, 'application/json', 'issuer', 'The signing keys (jwks_uri)', guard), 'issuer', 'The signing keys (jwks_uri)');
  if (jwks.keys.length === 0) throw new InspectionFailed('issuer', `The IdP publishes no signing keys at ${discovery.jwks_uri}`);
  const certificates: CertificateSummary[] = [];
  for (const key of jwks.keys) {
    const first = key.x5c?.[0];
    if (!first) continue;
    try {
      certificates.push(summarise(`-----BEGIN CERTIFICATE-----\n${first}\n-----END CERTIFICATE-----`, key.kid ?? key.kty, now));
    } catch {
      // A key without a readable certificate is still a key: its x5c is informational here.
    }
  }
  const endpoints: Record<string, string> = { authorization: discovery.authorization_endpoint, jwks: discovery.jwks_uri };
  if (discovery.token_endpoint) endpoints.token = discovery.token_endpoint;
  if (discovery.userinfo_endpoint) endpoints.userinfo = discovery.userinfo_endpoint;
  if (discovery.end_session_endpoint) endpoints.endSession = discovery.end_session_endpoint;
  const warnings = certificateWarnings(certificates, now);
  if (!discovery.token_endpoint) warnings.push('The IdP advertises no token endpoint: the authorization code cannot be exchanged.');
  return {
    type: 'oidc',
    entityId: discovery.issuer,
    endpoints,
    certificates,
    keys: jwks.keys.map((k) => ({ kty: k.kty, ...(k.kid ? { kid: k.kid } : {}), ...(k.alg ? { alg: k.alg } : {}), ...(k.use ? { use: k.use } : {}) })),
    warnings,
  };
}

/** Reads SAML IdP metadata with the broker's own parser, so what is shown is what sign-in will use. */
export function inspectSamlXml(xml: string, now: number): Inspection {
  let idp: ReturnType<typeof parseIdpMetadata>;
  try {
    idp = parseIdpMetadata(xml);
  } catch (error) {
    if (error instanceof UpstreamError) throw new InspectionFailed('metadataXml', error.message);
    throw error;
  }
  const certificates: CertificateSummary[] = [];
  for (const pem of idp.certificates) {
    try {
      certificates.push(summarise(pem, 'metadata', now));
    } catch {
      throw new InspectionFailed('metadataXml', 'The IdP metadata carries a signing certificate that cannot be read as X.509');
    }
  }
  return { type: 'saml', entityId: idp.entityId, endpoints: { singleSignOn: idp.ssoUrl }, certificates, warnings: certificateWarnings(certificates, now), metadataXml: xml };
}

export async function inspectSamlUrl(url: string, guard: FetchGuardOptions, now: number): Promise<Inspection> {
  const xml = await fetchText(url, 'application/samlmetadata+xml, application/xml, text/xml', 'metadataUrl', 'The IdP metadata', guard);
  try {
    return inspectSamlXml(xml, now);
  } catch (error) {
    if (error instanceof InspectionFailed) throw new InspectionFailed('metadataUrl', error.message);
    throw error;
  }
}

export function inspect(request: InspectRequest, guard: FetchGuardOptions, now: number): Promise<Inspection> {
  if (request.type === 'oidc') return inspectOidc(request.issuer, guard, now);
  if ('metadataUrl' in request) return inspectSamlUrl(request.metadataUrl, guard, now);
  return Promise.resolve(inspectSamlXml(request.metadataXml, now));
}
