import { z } from 'zod';
import { ScimError } from './errors.ts';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** Entra ID sends booleans as the strings "True" and "False" (documented as a known deviation). */
const Bool = z.union([z.boolean(), z.enum(['True', 'False', 'true', 'false'])]).transform((v) => (typeof v === 'boolean' ? v : v.toLowerCase() === 'true'));
const text = (max = 256) => z.string().max(max);

const MultiValued = z.looseObject({ value: text(1024), type: text(64).optional(), primary: Bool.optional(), display: text(256).optional() });

const Enterprise = z.looseObject({
  employeeNumber: text().optional(),
  costCenter: text().optional(),
  organization: text().optional(),
  division: text().optional(),
  department: text().optional(),
  manager: z
    .union([text(), z.looseObject({ value: text().optional(), displayName: text().optional(), $ref: text(2048).nullable().optional() })])
    .nullable()
    .optional(),
});

/** A User as a client sends it (POST, PUT, or the result of a PATCH). Attributes not listed are ignored, as RFC 7644 §3.3 allows. */
export const UserInput = z.looseObject({
  userName: z.string().min(1).max(254),
  externalId: text().nullable().optional(),
  active: Bool.optional(),
  name: z.looseObject({ formatted: text().optional(), givenName: text().optional(), familyName: text().optional(), middleName: text().optional(), honorificPrefix: text().optional(), honorificSuffix: text().optional() }).optional(),
  displayName: text().optional(),
  nickName: text().optional(),
  title: text().optional(),
  userType: text().optional(),
  preferredLanguage: text(64).optional(),
  locale: text(64).optional(),
  timezone: text(64).optional(),
  emails: z.array(MultiValued).max(20).optional(),
  phoneNumbers: z.array(MultiValued).max(20).optional(),
  [ENTERPRISE_SCHEMA]: Enterprise.optional(),
});
export type UserInput = z.infer<typeof UserInput>;

export const GroupInput = z.looseObject({
  displayName: z.string().min(1).max(256),
  externalId: text().nullable().optional(),
  members: z
    .array(z.looseObject({ value: text(), display: text().optional(), $ref: text(2048).nullable().optional(), type: text(64).optional() }))
    .max(100_000)
    .optional(),
});
export type GroupInput = z.infer<typeof GroupInput>;

/** The attributes of a User kept as sent (the rest is computed: id, active, groups, meta). */
export const STORED_USER_ATTRIBUTES = ['name', 'displayName', 'nickName', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone', 'emails', 'phoneNumbers', ENTERPRISE_SCHEMA] as const;

/** Parses a resource with its schema; the first problem is a 400 invalidValue naming the attribute. */
export function parseResource<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', `the body must be a ${what} object`);
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
  throw new ScimError(400, 'invalidValue', `${path || what}: ${issue.message}`);
}

/** `startIndex` and `count` (RFC 7644 §3.4.2.4): 1-based, a value below 1 read as 1; count capped at `max`. */
export function pageOf(query: Record<string, string | string[] | undefined>, max: number): { startIndex: number; count: number } {
  const read = (name: string): number | undefined => {
    const raw = query[name];
    if (raw === undefined) return undefined;
    const value = Array.isArray(raw) ? raw[0] : raw;
    const n = Number(value);
    if (!Number.isInteger(n)) throw new ScimError(400, 'invalidValue', `${name} must be an integer`);
    return n;
  };
  const startIndex = Math.max(1, read('startIndex') ?? 1);
  const count = Math.min(max, Math.max(0, read('count') ?? max));
  return { startIndex, count };
}

export function listResponse(all: Record<string, unknown>[], page: { startIndex: number; count: number }): Record<string, unknown> {
  const items = all.slice(page.startIndex - 1, page.startIndex - 1 + page.count);
  return { schemas: [LIST_SCHEMA], totalResults: all.length, startIndex: page.startIndex, itemsPerPage: items.length, Resources: items };
}
