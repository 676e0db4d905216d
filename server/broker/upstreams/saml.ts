import { randomBytes } from 'node:crypto';
import { AUTHN_CONTEXT_CLAIM } from '../upstream-mfa.ts';
import { SAML, ValidateInResponseTo, type CacheProvider, type Profile } from '@node-saml/node-saml';
import { DOMParser } from '@xmldom/xmldom';
import * as xpath from 'xpath';
import { z } from 'zod';
import { SOURCE_ANNOTATION, type IdPConnectionObject } from '../../../api/index.ts';
import { guardedFetch, type FetchGuardOptions } from './fetch-guard.ts';
import type { Clock } from '../../clock.ts';
import { attempt, UpstreamError, type ConnectionEndpoints, type Upstream, type UpstreamFinishRequest, type UpstreamIdentity, type UpstreamResult, type UpstreamStarted, type UpstreamStartRequest, type UpstreamFailureReason } from './upstream.ts';

const METADATA_TTL_MS = 10 * 60 * 1000;
/** How long a failed metadata fetch is answered from memory, so a hung IdP slows one request, not every one. */
const METADATA_FAILURE_TTL_MS = 30 * 1000;
const CLOCK_SKEW_MS = 60 * 1000;
const MAX_METADATA_BYTES = 1_048_576;

const NS = {
  md: 'urn:oasis:names:tc:SAML:2.0:metadata',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
};
const select = xpath.useNamespaces(NS);

export interface IdpDescriptor {
  entityId: string;
  ssoUrl: string;
  certificates: string[];
}

export interface SpEndpoints {
  entityId: string;
  acsUrl: string;
}

/** DTDs and entities are refused before any parser sees the document (XXE, billion laughs). */
function refuseDoctype(xml: string, what: string): void {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new UpstreamError('doctype', `${what} contains a DOCTYPE or entity declaration, which is never accepted.`);
}

function parse(xml: string, what: string): Document {
  refuseDoctype(xml, what);
  const errors: string[] = [];
  let doc: Document;
  try {
    doc = new DOMParser({ onError: (level, message) => void (level !== 'warning' && errors.push(message)) }).parseFromString(xml, 'text/xml') as unknown as Document;
  } catch {
    // xmldom 0.9 throws on fatal errors (truncated, not XML at all) after reporting them.
    throw new UpstreamError('malformed-xml', `${what} is not well-formed XML.`);
  }
  if (errors.length > 0 || !doc.documentElement) throw new UpstreamError('malformed-xml', `${what} is not well-formed XML.`);
  return doc;
}

/** The largest decoded SAMLResponse accepted; real ones are a few KiB (a dozen with many attributes). */
export const MAX_SAML_RESPONSE_BYTES = 256 * 1024;
/** The refusals that say the response could not even be read: the partner's IdP, or someone posting, sent a bad request. */
export const MALFORMED_SAML: ReadonlySet<UpstreamFailureReason> = new Set(['malformed-response', 'malformed-xml', 'doctype']);
const malformed = (detail: string) => new UpstreamError('malformed-response', `The SAMLResponse ${detail}.`);
/** Characters XML 1.0 forbids (xmldom lets some through): a response carrying them was not made by an XML library. */
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/**
 * The HTTP-POST binding's SAMLResponse as the XML text node-saml will read: strict base64
 * (line breaks allowed), within the size bound, UTF-8 (the only encoding accepted: the
 * signature covers bytes, and a second decoding of them is a second meaning), no forbidden characters.
 */
export function decodeSamlResponse(samlResponse: string): { base64: string; xml: string } {
  const base64 = samlResponse.replace(/[\r\n\t ]+/g, '');
  if (!base64) throw malformed('is empty');
  if (base64.length > Math.ceil(MAX_SAML_RESPONSE_BYTES / 3) * 4) throw malformed(`is larger than ${MAX_SAML_RESPONSE_BYTES / 1024} KiB`);
  if (base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw malformed('is not base64');
  let xml: string;
  try {
    xml = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(base64, 'base64'));
  } catch {
    throw malformed('is not UTF-8 text');
  }
  const declared = /^<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']/.exec(xml)?.[1];
  if (declared !== undefined && !/^utf-?8$/i.test(declared)) throw malformed(`declares the encoding "${declared.slice(0, 40)}"; only UTF-8 is accepted`);
  if (FORBIDDEN_CHARS.test(xml)) throw malformed('contains control characters, which XML does not allow');
  return { base64, xml };
}

/**
 * SAML Core §2.2.5 and the Web Browser SSO profile (§4.1.4.2): the assertion's Issuer, and the
 * Response's when present, name the IdP the connection declares — a key shared by several
 * entities (or reused by the IdP for another entity) must not let one speak for the other.
 */
function checkIssuers(response: Document, assertion: Document, entityId: string): void {
  const check = (issuers: Element[], where: string, required: boolean) => {
    if (issuers.length === 0 && !required) return;
    if (issuers.length !== 1) throw new UpstreamError('wrong-issuer', `The SAML ${where} must carry exactly one Issuer (it has ${issuers.length}).`);
    const issuer = issuers[0]!;
    const format = issuer.getAttribute('Format');
    if (format && format !== 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity') throw new UpstreamError('wrong-issuer', `The SAML ${where}'s Issuer has the Format ${format}, not an entity ID.`);
    const value = (issuer.textContent ?? '').trim();
    if (value !== entityId) throw new UpstreamError('wrong-issuer', `The SAML ${where} was issued by "${value.slice(0, 200)}", not by ${entityId}, the IdP this connection declares.`);
  };
  check(select('/samlp:Response/saml:Issuer', response) as Element[], 'response', false);
  check(select('/saml:Assertion/saml:Issuer', assertion) as Element[], 'assertion', true);
}

const pem = (base64: string) =>
  `-----BEGIN CERTIFICATE-----\n${base64
    .replace(/\s+/g, '')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----`;

/** node-saml does not read IdP metadata: the entity ID, the SSO endpoint and the signing certificates, read here. */
export function parseIdpMetadata(xml: string): IdpDescriptor {
  const doc = parse(xml, 'The IdP metadata');
  const entity = select('//md:EntityDescriptor[md:IDPSSODescriptor]', doc, true) as Element | undefined;
  if (!entity) throw new UpstreamError('bad-metadata', 'The IdP metadata has no EntityDescriptor with an IDPSSODescriptor.');
  const entityId = entity.getAttribute('entityID') ?? '';
  const sso = select('md:IDPSSODescriptor/md:SingleSignOnService', entity) as Element[];
  const redirect = sso.find((e) => e.getAttribute('Binding') === 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect');
  const ssoUrl = redirect?.getAttribute('Location') ?? '';
  const certificates = (select("md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate", entity) as Element[])
    .map((e) => (e.textContent ?? '').trim())
    .filter(Boolean)
    .map(pem);
  if (!entityId || !ssoUrl || certificates.length === 0) {
    throw new UpstreamError('bad-metadata', 'The IdP metadata lacks an entityID, an HTTP-Redirect SingleSignOnService or a signing certificate.');
  }
  return { entityId, ssoUrl, certificates };
}

/** Accepts exactly the one AuthnRequest this sign-in sent: a response to any other request is refused. */
function singleRequestCache(requestId: string): CacheProvider {
  return {
    saveAsync: async (_key, value) => ({ value, createdAt: Date.now() }),
    getAsync: async (key) => (key === requestId ? new Date().toISOString() : null),
    removeAsync: async (key) => key,
  };
}

export interface VerifiedAssertion {
  subject: string;
  nameIdFormat: string;
  attributes: Record<string, unknown>;
  assertionId: string;
  expiresAt: number;
  idp: string;
}

/** What the response is checked against; the shape kept in the pending sign-in. */
export const SamlExpected = z.object({ requestId: z.string() });

/** Remembers assertion IDs until they expire; false when the ID was already seen (a replay). */
export type AssertionCache = (idp: string, assertionId: string, expiresAt: number) => Promise<boolean>;

const spOf = (endpoints: ConnectionEndpoints): SpEndpoints => ({ entityId: endpoints.metadataUrl, acsUrl: endpoints.acsUrl });

export class SamlUpstreams implements Upstream {
  readonly type = 'saml' as const;
  private readonly clock: Clock;
  private readonly fetchMetadata: (url: string) => Promise<string>;
  private readonly assertions: AssertionCache | undefined;
  private readonly metadata = new Map<string, { at: number; idp: IdpDescriptor }>();
  private readonly failures = new Map<string, { at: number; error: UpstreamError }>();
  /** One fetch per URL at a time: requests that arrive while it runs wait for it. */
  private readonly fetching = new Map<string, Promise<IdpDescriptor>>();

  /** Without `assertions` (metadata and readiness only), `finish` refuses every response: replay could not be detected. */
  /** How metadata URLs of connections a partner administrator set up (not declared) are fetched. */
  private readonly untrusted: FetchGuardOptions;

  constructor(clock: Clock, fetchMetadata?: (url: string) => Promise<string>, assertions?: AssertionCache, untrusted: FetchGuardOptions = {}) {
    this.clock = clock;
    this.fetchMetadata = fetchMetadata ?? defaultFetch;
    this.assertions = assertions;
    this.untrusted = untrusted;
  }

  async start({ connection, endpoints }: UpstreamStartRequest): Promise<UpstreamResult<UpstreamStarted>> {
    const relayState = randomBytes(32).toString('base64url');
    return attempt(async () => {
      const { url, requestId } = await this.authnRequest(connection, spOf(endpoints), relayState);
      return { url, correlation: relayState, expected: { requestId } };
    });
  }

  async finish({ connection, endpoints, expected, params }: UpstreamFinishRequest): Promise<UpstreamResult<UpstreamIdentity>> {
    const { requestId } = SamlExpected.parse(expected);
    return attempt(async () => {
      const verified = await this.verify(connection, spOf(endpoints), requestId, params.get('SAMLResponse') ?? '', params.get('RelayState') ?? '');
      if (!this.assertions || !(await this.assertions(verified.idp, verified.assertionId, verified.expiresAt))) {
        throw new UpstreamError('replayed-assertion', 'This SAML assertion was already used.');
      }
      const emailNameId = /emailAddress$/.test(verified.nameIdFormat) && !verified.attributes.email;
      return { subject: verified.subject, claims: { ...verified.attributes, nameID: verified.subject, ...(emailNameId ? { email: verified.subject } : {}) } };
    });
  }

  /** The IdP as declared: inline fields, metadata XML, or metadata fetched from its URL (cached). */
  async idp(connection: IdPConnectionObject): Promise<IdpDescriptor> {
    const spec = connection.spec.saml!;
    if (spec.metadataXml) return parseIdpMetadata(spec.metadataXml);
    if (spec.metadataUrl) {
      // A URL a partner typed (the portal) is fetched through the private-address guard, and cached apart from declared ones.
      const guarded = connection.metadata.annotations?.[SOURCE_ANNOTATION] !== undefined;
      const url = spec.metadataUrl;
      const key = `${guarded ? 'guarded ' : ''}${url}`;
      const cached = this.metadata.get(key);
      if (cached && this.clock.now() - cached.at < METADATA_TTL_MS) return cached.idp;
      const failed = this.failures.get(key);
      if (failed && this.clock.now() - failed.at < METADATA_FAILURE_TTL_MS) throw failed.error;
      let pending = this.fetching.get(key);
      if (!pending) {
        const fetcher = guarded ? async (u: string) => (await guardedFetch(u, 'application/samlmetadata+xml, application/xml, text/xml', { ...this.untrusted, maxBytes: MAX_METADATA_BYTES })).body : this.fetchMetadata;
        pending = this.fetchIdp(url, key, fetcher).finally(() => this.fetching.delete(key));
        this.fetching.set(key, pending);
      }
      return pending;
    }
    return { entityId: spec.entityId!, ssoUrl: spec.ssoUrl!, certificates: [spec.certificate!] };
  }

  private async fetchIdp(url: string, key: string, fetcher: (url: string) => Promise<string>): Promise<IdpDescriptor> {
    let xml: string;
    try {
      xml = await fetcher(url);
    } catch (error) {
      const failure = new UpstreamError('metadata-unreachable', `IdP metadata could not be fetched from ${url} (${error instanceof Error ? error.message : String(error)}); tried again after ${METADATA_FAILURE_TTL_MS / 1000} s.`);
      this.failures.set(key, { at: this.clock.now(), error: failure });
      throw failure;
    }
    const idp = parseIdpMetadata(xml);
    this.failures.delete(key);
    this.metadata.set(key, { at: this.clock.now(), idp });
    return idp;
  }

  private saml(connection: IdPConnectionObject, idp: IdpDescriptor, sp: SpEndpoints, requestId: string): SAML {
    return new SAML({
      entryPoint: idp.ssoUrl,
      issuer: sp.entityId,
      callbackUrl: sp.acsUrl,
      idpCert: idp.certificates,
      idpIssuer: idp.entityId,
      audience: sp.entityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.always,
      cacheProvider: singleRequestCache(requestId),
      generateUniqueId: () => requestId,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      identifierFormat: connection.spec.saml!.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      disableRequestedAuthnContext: true,
    });
  }

  /** Per-connection SP metadata, for the partner's IdP administrator. */
  spMetadata(connection: IdPConnectionObject, sp: SpEndpoints): string {
    const saml = new SAML({
      issuer: sp.entityId,
      callbackUrl: sp.acsUrl,
      idpCert: 'unused',
      wantAssertionsSigned: true,
      identifierFormat: connection.spec.saml!.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    });
    return saml.generateServiceProviderMetadata(null, null);
  }

  /** An HTTP-Redirect AuthnRequest; `relayState` names the pending sign-in. */
  private async authnRequest(connection: IdPConnectionObject, sp: SpEndpoints, relayState: string): Promise<{ url: string; requestId: string }> {
    const idp = await this.idp(connection);
    const requestId = `_${randomBytes(20).toString('hex')}`;
    const url = await this.saml(connection, idp, sp, requestId).getAuthorizeUrlAsync(relayState, undefined, {});
    return { url, requestId };
  }

  /**
   * Validates an HTTP-POST response. node-saml checks the signature (only the bytes signed,
   * from the declared certificates), the audience, InResponseTo and the validity window;
   * here we add what it leaves out — DTDs, comments (NameID truncation), Recipient and
   * Destination — and return the assertion ID for the replay cache.
   */
  async verify(connection: IdPConnectionObject, sp: SpEndpoints, requestId: string, samlResponse: string, relayState: string): Promise<VerifiedAssertion> {
    const { base64, xml } = decodeSamlResponse(samlResponse);
    const doc = parse(xml, 'The SAML response');
    if (doc.documentElement.localName !== 'Response' || doc.documentElement.namespaceURI !== NS.samlp) throw new UpstreamError('malformed-response', 'The SAMLResponse is not a SAML 2.0 protocol Response.');
    if ((select('//comment()', doc) as Node[]).length > 0) throw new UpstreamError('xml-comment', 'The SAML response contains XML comments, which are refused (they can truncate a signed NameID).');
    const idp = await this.idp(connection);
    let profile: Profile | null;
    try {
      ({ profile } = await this.saml(connection, idp, sp, requestId).validatePostResponseAsync({ SAMLResponse: base64, RelayState: relayState }));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new UpstreamError(samlReason(message), `The SAML response was refused: ${message}.`);
    }
    if (!profile?.getAssertionXml) throw new UpstreamError('no-assertion', 'The SAML response carries no assertion.');
    const assertion = parse(profile.getAssertionXml(), 'The SAML assertion');
    // node-saml checks the Issuer of logout messages only.
    checkIssuers(doc, assertion, idp.entityId);
    const confirmation = select('//saml:SubjectConfirmation/saml:SubjectConfirmationData', assertion, true) as Element | undefined;
    if (confirmation?.getAttribute('Recipient') !== sp.acsUrl) throw new UpstreamError('wrong-recipient', `The SAML assertion is addressed to ${confirmation?.getAttribute('Recipient') || 'no recipient'}, not to ${sp.acsUrl}.`);
    if (confirmation.getAttribute('InResponseTo') !== requestId) throw new UpstreamError('in-response-to-mismatch', 'The SAML assertion answers another sign-in request.');
    const response = doc.documentElement;
    const destination = response.getAttribute('Destination');
    if (destination && destination !== sp.acsUrl) throw new UpstreamError('wrong-destination', `The SAML response is addressed to ${destination}, not to ${sp.acsUrl}.`);
    const root = assertion.documentElement;
    const assertionId = root.getAttribute('ID') ?? '';
    const conditions = select('//saml:Conditions', assertion, true) as Element | undefined;
    const notOnOrAfter = Date.parse(conditions?.getAttribute('NotOnOrAfter') ?? confirmation.getAttribute('NotOnOrAfter') ?? '');
    const attributes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(profile)) if (typeof v === 'string' || Array.isArray(v)) attributes[k] = v;
    // How the IdP says the user signed in (a second factor or not): what `upstreamMfa` reads.
    const context = (select('string(//saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef)', assertion) as unknown as string).trim();
    if (context) attributes[AUTHN_CONTEXT_CLAIM] = context;
    return {
      subject: profile.nameID,
      nameIdFormat: profile.nameIDFormat,
      attributes,
      assertionId,
      expiresAt: (Number.isFinite(notOnOrAfter) ? notOnOrAfter : this.clock.now() + 3600_000) + CLOCK_SKEW_MS,
      idp: idp.entityId,
    };
  }
}

function samlReason(message: string): UpstreamFailureReason {
  const m = message.toLowerCase();
  if (m.includes('signature')) return 'invalid-signature';
  if (m.includes('audience')) return 'wrong-audience';
  if (m.includes('expired') || m.includes('notonorafter') || m.includes('not yet valid') || m.includes('notbefore')) return 'expired';
  if (m.includes('inresponseto')) return 'in-response-to-mismatch';
  if (m.includes('issuer')) return 'wrong-issuer';
  return 'saml-refused';
}

async function defaultFetch(url: string): Promise<string> {
  if (!/^https?:$/.test(new URL(url).protocol)) throw new Error('only http(s) metadata URLs are fetched');
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000), headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_METADATA_BYTES) throw new Error('metadata larger than 1 MiB');
  return text;
}
