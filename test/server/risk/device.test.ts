// The device cookie (server/risk/device.ts): random, signed per issuer with the server's key
// material, HttpOnly and SameSite; what is recorded is a digest of its id, never the cookie;
// a cookie that does not verify — tampered, another issuer's, another server key's — is ignored.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import { listen, type RunningServer } from '../../../server/http/listen.ts';
import { DeviceCookies, deviceCookieName, digest } from '../../../server/risk/device.ts';

const ISSUER = '/blixit-partners/forge';
const OTHER = '/blixit-partners/cascade';
let server: RunningServer;

/** A server answering `{issuer}` with the device digest it reads (`read`) or gives (`ensure`), by the key `key`. */
function app(): Koa {
  const keys = { a: new DeviceCookies('key-a-0123456789abcdef0123456789'), b: new DeviceCookies('key-b-0123456789abcdef0123456789') };
  const koa = new Koa();
  koa.use((ctx) => {
    const [, op, key, ...path] = ctx.path.split('/');
    const devices = keys[key as 'a' | 'b'];
    const issuer = `/${path.join('/')}`;
    ctx.body = { device: op === 'ensure' ? devices.ensure(ctx, issuer) : (devices.read(ctx, issuer) ?? null), again: op === 'ensure' ? devices.ensure(ctx, issuer) : null };
  });
  return koa;
}

async function call(op: 'ensure' | 'read', key: 'a' | 'b', issuer: string, cookie?: string): Promise<{ device: string | null; again: string | null; setCookie: string[] }> {
  const res = await fetch(`${server.url}/${op}/${key}${issuer}`, { headers: cookie ? { cookie } : {} });
  return { ...((await res.json()) as { device: string | null; again: string | null }), setCookie: res.headers.getSetCookie() };
}

beforeAll(async () => {
  server = await listen(app().callback(), { host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close();
});

describe('the device cookie', () => {
  let cookie: string;
  let device: string;

  it('is given once per request to a browser that has none: random, signed, HttpOnly, SameSite=Lax, for about 400 days', async () => {
    const first = await call('ensure', 'a', ISSUER);
    expect(first.setCookie).toHaveLength(1);
    const [pair, ...attributes] = first.setCookie[0]!.split('; ');
    const [name, value] = pair!.split('=');
    expect(name).toBe(deviceCookieName(ISSUER));
    expect(value).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(attributes.map((a) => a.toLowerCase())).toEqual(expect.arrayContaining(['path=/', 'samesite=lax', 'httponly']));
    const expires = Date.parse(/expires=([^;]+)/i.exec(first.setCookie[0]!)![1]!);
    expect(Math.round((expires - Date.now()) / 86_400_000)).toBe(400);
    cookie = pair!;
    device = first.device!;
    // The digest, never the id: 16 hex characters of its SHA-256.
    expect(device).toBe(digest(value!.split('.')[0]!));
    expect(device).toMatch(/^[0-9a-f]{16}$/);
    expect(first.again).toBe(device);
    const second = await call('ensure', 'a', ISSUER);
    expect(second.device).not.toBe(device);
  });

  it('is read back by the issuer that gave it, and not given again', async () => {
    const back = await call('ensure', 'a', ISSUER, cookie);
    expect(back.device).toBe(device);
    expect(back.setCookie).toEqual([]);
  });

  it.each([
    ['a tampered signature', () => cookie.replace(/\.(.)/, (_, c: string) => `.${c === 'A' ? 'B' : 'A'}`), 'a', ISSUER],
    ['another id under the same signature', () => cookie.replace(/=(.)/, (_, c: string) => `=${c === 'A' ? 'B' : 'A'}`), 'a', ISSUER],
    ["another issuer's (the signature binds the issuer's path)", () => `${deviceCookieName(OTHER)}=${cookie.split('=')[1]}`, 'a', OTHER],
    ["another server key's", () => cookie, 'b', ISSUER],
    ['no signature at all', () => `${deviceCookieName(ISSUER)}=${cookie.split('=')[1]!.split('.')[0]}`, 'a', ISSUER],
    ['garbage', () => `${deviceCookieName(ISSUER)}=..x.y`, 'a', ISSUER],
  ] as const)('ignores %s', async (_what, forged, key, issuer) => {
    expect((await call('read', key, issuer, forged())).device).toBeNull();
  });
});
