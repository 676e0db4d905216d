import type { Context } from 'koa';
import type { z } from 'zod';
import { dnsLabel } from '../../api/index.ts';
import { badRequest } from '../errors.ts';

/** Reading a governance request: a DNS label of the path, a body against its schema (400 naming the field). */

export function label(ctx: Context, param: string): string {
  const value = String(ctx.params[param]);
  const result = dnsLabel.safeParse(value);
  if (!result.success) throw badRequest(`${param} "${value}" in the URL: ${result.error.issues[0]!.message}`);
  return value;
}

export function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success)
    throw badRequest(
      `${what}: ${result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  return result.data;
}
