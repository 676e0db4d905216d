import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

/** The device cookie's name at an issuer: each issuer of a host keeps its own (cookies are set at path "/", as the provider's are). */
export const deviceCookieName = (issuerPath: string): string => `gh_device${issuerPath.replace(/[^a-z0-9]+/g, '_')}`;
/** About 400 days, the longest lifetime browsers keep a cookie for. */
const MAX_AGE_SECONDS = 400 * 86400;

/**
 * A browser's device identifier for the risk engine: a random id, per issuer, signed with
 * an HMAC of the server's key material over the issuer's path and the id. What is recorded
 * (audit `data.signals.device`, the store) is a digest of the id, never the cookie: a record
 * read back cannot be turned into a cookie. A cookie whose signature does not verify (forged,
 * or another issuer's) is ignored and replaced, as if the browser had brought none.
 */
export class DeviceCookies {
  private readonly key: Buffer;
  /** What `ensure` answered for a request: a second call does not mint a second cookie. */
  private readonly given = new WeakMap<Context, string>();

  constructor(key: string) {
    this.key = Buffer.from(key);
  }

  private sign(issuerPath: string, id: string): string {
    return createHmac('sha256', this.key).update(`${issuerPath}\n${id}`).digest('base64url');
  }

  /** The digest of the browser's device id at this issuer, when its cookie verifies. */
  read(ctx: Context, issuerPath: string): string | undefined {
    const raw = ctx.cookies.get(deviceCookieName(issuerPath));
    const [id, mac, extra] = (raw ?? '').split('.');
    if (!id || !mac || extra !== undefined || !/^[A-Za-z0-9_-]{22}$/.test(id)) return undefined;
    const expected = Buffer.from(this.sign(issuerPath, id));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return digest(id);
  }

  /** The browser's device digest, giving it a new device cookie when it has none that verifies. */
  ensure(ctx: Context, issuerPath: string): string {
    const known = this.given.get(ctx) ?? this.read(ctx, issuerPath);
    if (known) return known;
    const id = randomBytes(16).toString('base64url');
    ctx.cookies.set(deviceCookieName(issuerPath), `${id}.${this.sign(issuerPath, id)}`, { path: '/', httpOnly: true, sameSite: 'lax', secure: ctx.protocol === 'https', maxAge: MAX_AGE_SECONDS * 1000, signed: false, overwrite: true });
    const made = digest(id);
    this.given.set(ctx, made);
    return made;
  }
}

/** What is recorded of a device id: 16 hex characters of its SHA-256. */
export const digest = (id: string): string => createHash('sha256').update(id).digest('hex').slice(0, 16);
