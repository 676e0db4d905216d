import type { Context } from 'koa';
import type { KeyRing } from '../oidc/keys.ts';
import type { Issuer, KeptDocument } from './issuer.ts';

/**
 * The metadata documents an issuer's provider answered, kept to be answered again without it:
 * discovery, which depends on nothing but the issuer's configuration (an issuer is replaced,
 * and this with it, when that changes), and JWKS, which depends on nothing but the key ring
 * (shared by the issuers of a namespace). The provider writes every URL in them from the
 * issuer's own origin, to which each request is pinned first, so one answer fits every request.
 */
export class IssuerMetadata {
  /** A handful of rings (one per namespace and algorithm): a WeakMap costs nothing here. */
  private readonly jwks = new WeakMap<KeyRing, KeptDocument>();

  /** Keeps what the provider answered with 200 to a GET of the route `name` (its body and media type). */
  remember(issuer: Issuer, name: string, ctx: Context): void {
    const document = { type: ctx.response.get('Content-Type'), body: Buffer.from(JSON.stringify(ctx.body)) };
    if (name === 'discovery') issuer.discovery = document;
    else if (name === 'jwks') this.jwks.set(issuer.ring, document);
  }

  of(issuer: Issuer, name: string): KeptDocument | undefined {
    return name === 'discovery' ? issuer.discovery : name === 'jwks' ? this.jwks.get(issuer.ring) : undefined;
  }
}

/** Answers a kept document as the provider answers it: open to every origin (its `cors.open`). */
export function answerDocument(ctx: Context, document: KeptDocument): void {
  ctx.vary('Origin');
  ctx.set('Access-Control-Allow-Origin', ctx.get('Origin') || '*');
  ctx.status = 200;
  ctx.set('Content-Type', document.type);
  ctx.body = document.body;
}
