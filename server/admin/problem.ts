import type { Context, Next } from 'koa';
import { ValidationError, type FieldError } from '../../api/index.ts';

/**
 * An error that reaches the caller as RFC 9457 `application/problem+json`: what was
 * wrong (title, detail), where (object, field paths) and, where useful, what to do.
 */
export class Problem extends Error {
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[];
  readonly object: string | undefined;
  readonly extra: Record<string, unknown>;

  constructor(status: number, title: string, detail: string, options: { errors?: FieldError[]; object?: string; extra?: Record<string, unknown> } = {}) {
    super(detail);
    this.name = 'Problem';
    this.status = status;
    this.title = title;
    this.errors = options.errors ?? [];
    this.object = options.object;
    this.extra = options.extra ?? {};
  }

  static fromValidation(error: ValidationError, status = 422): Problem {
    return new Problem(status, 'Invalid object', error.message, { errors: error.errors, object: error.object });
  }

  toJSON(): Record<string, unknown> {
    return {
      type: `https://gatehouse.dev/problems/${this.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(this.object ? { object: this.object } : {}),
      ...(this.errors.length ? { errors: this.errors } : {}),
      ...this.extra,
    };
  }
}

export const notFound = (detail: string) => new Problem(404, 'Not found', detail);
export const badRequest = (detail: string, errors?: FieldError[]) => new Problem(400, 'Bad request', detail, errors ? { errors } : {});

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
  return async (ctx: Context, next: Next): Promise<void> => {
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
  };
}
