import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import Koa from 'koa';
import samlify from 'samlify';
import * as xmllint from '@authenio/samlify-node-xmllint';
import { SignedXml } from 'xml-crypto';
import { demoPage } from './style.ts';
import { listen, type RunningServer } from '../../server/http/listen.ts';
import { selfSignedKeyPair } from './self-signed.ts';

/** Demo and test keys only, made fresh in each process: Pinnacle's IdP, and a rogue one whose signatures must be refused. */
export const PEER_KEYS = {
  pinnacle: selfSignedKeyPair('pinnacle-idp (Gatehouse demo and tests only)'),
  rogue: selfSignedKeyPair('rogue-idp (Gatehouse demo and tests only)'),
};

export const ATTR = {
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
};

export interface SamlPeerUser {
  email: string;
  password: string;
  name: string;
}

/** Everything that varies in a response; tests change one field at a time. */
export interface ResponseFields {
  responseId: string;
  assertionId: string;
  issuer: string;
  destination: string;
  recipient: string;
  audience: string;
  inResponseTo: string;
  nameId: string;
  nameIdFormat: string;
  notBefore: string;
  notOnOrAfter: string;
  issueInstant: string;
  attributes: Record<string, string>;
}

const x = (v: string) => v.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function defaultFields(partial: Partial<ResponseFields> & Pick<ResponseFields, 'issuer' | 'destination' | 'audience' | 'inResponseTo' | 'nameId'>, now = Date.now()): ResponseFields {
  return {
    responseId: `_r${randomBytes(16).toString('hex')}`,
    assertionId: `_a${randomBytes(16).toString('hex')}`,
    recipient: partial.destination,
    nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    notBefore: new Date(now - 60_000).toISOString(),
    notOnOrAfter: new Date(now + 5 * 60_000).toISOString(),
    issueInstant: new Date(now).toISOString(),
    attributes: {},
    ...partial,
  };
}

export function assertionXml(f: ResponseFields): string {
  const attributes = Object.entries(f.attributes)
    .map(([k, v]) => `<saml:Attribute Name="${x(k)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>${x(v)}</saml:AttributeValue></saml:Attribute>`)
    .join('');
  return `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${f.assertionId}" Version="2.0" IssueInstant="${f.issueInstant}"><saml:Issuer>${x(f.issuer)}</saml:Issuer><saml:Subject><saml:NameID Format="${f.nameIdFormat}">${x(f.nameId)}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${f.notOnOrAfter}" Recipient="${x(f.recipient)}" InResponseTo="${f.inResponseTo}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="${f.notBefore}" NotOnOrAfter="${f.notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${x(f.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="${f.issueInstant}" SessionIndex="${f.assertionId}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>${attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : ''}</saml:Assertion>`;
}

export function responseXml(f: ResponseFields, assertion = assertionXml(f)): string {
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${f.responseId}" Version="2.0" IssueInstant="${f.issueInstant}" Destination="${x(f.destination)}" InResponseTo="${f.inResponseTo}"><saml:Issuer>${x(f.issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>${assertion}</samlp:Response>`;
}

/** Signs the element with this ID (enveloped, exclusive C14N, RSA-SHA256), as an IdP would. */
export function signElement(xml: string, id: string, keys: { key: string; cert: string }): string {
  const sig = new SignedXml({ privateKey: keys.key, publicCert: keys.cert, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  sig.addReference({ xpath: `//*[@ID='${id}']`, digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'] });
  sig.computeSignature(xml, { location: { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

export interface SamlPeer {
  url: string;
  entityId: string;
  metadataXml: string;
  close(): Promise<void>;
}

/** Runs `work` with console[method] dropping what `noise` matches; anything else still prints. */
function withoutNoise<T>(method: 'log' | 'warn', noise: RegExp, work: () => T): T {
  const original = console[method];
  console[method] = (...args: unknown[]) => {
    if (!noise.test(args.map(String).join(' '))) original(...args);
  };
  try {
    return work();
  } finally {
    console[method] = original;
  }
}

// node-xmllint's emscripten build logs its empty standard output on every validation; schema
// errors still reject the validation and are printed by console.error.
samlify.setSchemaValidator({ validate: (xml: string) => withoutNoise('log', /^\s*$/, () => xmllint.validate(xml)) });

/**
 * A partner's SAML 2.0 IdP (Pinnacle Logistics in the demo), built on samlify: it reads
 * the AuthnRequest (HTTP-Redirect), asks for a password, and posts back an assertion that
 * samlify signs because the SP metadata wants signed assertions.
 */
export async function startSamlPeer(options: { port?: number; users: SamlPeerUser[]; title?: string }): Promise<SamlPeer> {
  const app = new Koa();
  let handler: Koa.Middleware | undefined;
  // app.callback() composes the middleware when the server starts: register first, bind once the URL is known.
  app.use((ctx, next) => (handler ? handler(ctx, next) : next()));
  const running: RunningServer = await listen(app, { host: '127.0.0.1', port: options.port ?? 0 });
  const entityId = `${running.url}/metadata`;
  // This peer has no single logout, which samlify announces on the console.
  const idp = withoutNoise('warn', /missing endpoint of SingleLogoutService/, () =>
    samlify.IdentityProvider({
      entityID: entityId,
      signingCert: PEER_KEYS.pinnacle.cert,
      privateKey: PEER_KEYS.pinnacle.key,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: `${running.url}/sso` }],
      isAssertionEncrypted: false,
      wantAuthnRequestsSigned: false,
    }),
  );
  const metadataXml = idp.getMetadata();
  const spMetadata = new Map<string, string>();
  const title = options.title ?? 'Partner SAML IdP';
  const users = new Map(options.users.map((u) => [u.email, u]));

  handler = async (ctx) => {
    if (ctx.path === '/metadata') {
      ctx.type = 'application/samlmetadata+xml';
      ctx.body = metadataXml;
      return;
    }
    if (ctx.path !== '/sso') return;
    const query = ctx.method === 'POST' ? Object.fromEntries(new URLSearchParams(await body(ctx))) : (ctx.query as Record<string, string>);
    const request = query.SAMLRequest ?? '';
    const relayState = query.RelayState ?? '';
    const form = (error = '') => {
      ctx.type = 'html';
      ctx.body = demoPage(
        x(title),
        '#0a7d5a',
        `<h1>Sign in</h1>${error ? `<p class="error">${x(error)}</p>` : ''}<form method="post" action="/sso"><input type="hidden" name="SAMLRequest" value="${x(request)}"><input type="hidden" name="RelayState" value="${x(relayState)}"><input type="hidden" name="SigAlg" value=""><label>Email <input name="email"></label><label>Password <input name="password" type="password"></label><button>Sign in</button></form><p class="muted">A partner's own SAML identity provider (demo).</p>`,
      );
    };
    if (ctx.method !== 'POST') return form();
    const user = users.get(query.email ?? '');
    if (!user || user.password !== query.password) return form('Wrong email or password.');
    // The SP is whoever the AuthnRequest names: its metadata is read from its issuer (the SP entity ID is its metadata URL).
    const spEntity = /<saml:Issuer[^>]*>([^<]+)<\/saml:Issuer>/.exec(inflate(request))?.[1] ?? '';
    let spXml = spMetadata.get(spEntity);
    if (!spXml) {
      spXml = await (await fetch(spEntity)).text();
      spMetadata.set(spEntity, spXml);
    }
    const sp = samlify.ServiceProvider({ metadata: spXml });
    const parsed = await idp.parseLoginRequest(sp, 'redirect', { query: { SAMLRequest: request, RelayState: relayState } });
    const requestId = String((parsed.extract as { request?: { id?: string } }).request?.id ?? '');
    const acs = /AssertionConsumerServiceURL="([^"]+)"/.exec(inflate(request))?.[1] ?? '';
    const response = await idp.createLoginResponse(sp, parsed as unknown as Parameters<typeof idp.createLoginResponse>[1], 'post', { email: user.email }, (template: string) => {
      const fields = defaultFields({ issuer: entityId, destination: acs, audience: spEntity, inResponseTo: requestId, nameId: user.email, attributes: { [ATTR.email]: user.email, [ATTR.name]: user.name } });
      void template;
      return { id: fields.responseId, context: responseXml(fields) };
    });
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>${x(title)}</title><form method="post" action="${x(acs)}"><input type="hidden" name="SAMLResponse" value="${x(response.context)}"><input type="hidden" name="RelayState" value="${x(relayState)}"><button>Continue</button></form><script>document.forms[0].submit()</script>`;
  };
  return { url: running.url, entityId, metadataXml, close: () => running.close() };
}

async function body(ctx: Koa.Context): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

function inflate(request: string): string {
  try {
    return inflateRawSync(Buffer.from(request, 'base64')).toString('utf8');
  } catch {
    return '';
  }
}
