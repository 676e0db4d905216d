import type { Context, Next } from 'koa';
import { ValidationError } from '../../api/index.ts';
import { Problem, notFound } from '../errors.ts';

export interface ErrorReporter {
  (error: unknown, ctx: Context): void;
}

/**
 * The path the client asked for. Inside an issuer's provider `ctx.path` is relative to the
 * issuer, whether the provider is mounted (Koa's `originalUrl` keeps the full URL) or called
 * directly (the request's `originalUrl`, as under Express).
 */
function askedPath(ctx: Context): string {
  const url = (ctx.req as { originalUrl?: string }).originalUrl ?? ctx.originalUrl;
  return url.split('?')[0] ?? url;
}

/** Renders every error as problem+json; unexpected ones become a 500 that reveals nothing internal. */
export function problemMiddleware(report: ErrorReporter) {
  return (ctx: Context, next: Next): Promise<void> => withProblems(ctx, next, report);
}

/** `problemMiddleware`'s work around `next`, for a middleware that does more (the issuers' one, on the token path). */
export async function withProblems(ctx: Context, next: Next, report: ErrorReporter): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw notFound(`no route for ${ctx.method} ${askedPath(ctx)}`);
  } catch (error) {
    let problem: Problem;
    if (error instanceof Problem) problem = error;
    else if (error instanceof ValidationError) problem = Problem.fromValidation(error);
    else {
      report(error, ctx);
      problem = new Problem(500, 'Internal error', 'the server failed to handle the request; the error was logged');
    }
    ctx.status = problem.status;
    ctx.type = 'application/problem+json';
    ctx.body = problem.toJSON();
    if (problem.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="gatehouse-admin"');
  }
}
