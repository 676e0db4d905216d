import { z } from 'zod';
import { dnsLabel } from './meta.ts';

const rfc3339 = 'expected an RFC 3339 date-time';
export const dateTime = z.iso.datetime({ offset: true, error: rfc3339 });

/** A reference by name to another object in the same namespace. */
export const LocalRef = z.strictObject({ name: dnsLabel });
export type LocalRef = z.infer<typeof LocalRef>;

/** A reference to one key of a secret held outside the manifest (a Kubernetes Secret or the server's secret store). */
export const SecretKeyRef = z.strictObject({
  name: dnsLabel,
  key: z
    .string()
    .regex(/^[-._a-zA-Z0-9]+$/, { error: 'must be a secret key: letters, digits, "-", "_" or "."' })
    .max(253),
});
export type SecretKeyRef = z.infer<typeof SecretKeyRef>;

const DURATION = /^([1-9][0-9]*)(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Lifetimes are written as a whole number and a unit: `90s`, `15m`, `8h`, `30d`. */
export const duration = z.string().regex(DURATION, { error: 'expected a duration such as "90s", "15m", "8h" or "30d"' });

export function durationSeconds(value: string): number {
  const match = DURATION.exec(value);
  if (!match) throw new RangeError(`not a duration: ${JSON.stringify(value)}`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
export const domainName = z.string().regex(DOMAIN, { error: 'expected a lowercase domain name such as "example.com"' });

export const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
export const email = z.email({ error: 'expected an email address' });
export const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, { error: 'expected a colour such as "#0a7cff"' });

export const TokenLifetimes = z.strictObject({
  accessToken: duration.optional(),
  idToken: duration.optional(),
  refreshToken: duration.optional(),
});
export type TokenLifetimes = z.infer<typeof TokenLifetimes>;

/**
 * A sign-in session at an issuer: `lifetime` from the sign-in on (then the user signs in
 * again, however active), `idleTimeout` since the session was last used.
 */
export const SessionLifetimes = z.strictObject({
  lifetime: duration.optional(),
  idleTimeout: duration.optional(),
});
export type SessionLifetimes = z.infer<typeof SessionLifetimes>;

export const uniqueList = <T extends z.ZodType>(item: T) =>
  z.array(item).refine((list) => new Set(list.map((v) => JSON.stringify(v))).size === list.length, {
    error: 'must not contain duplicates',
  });
