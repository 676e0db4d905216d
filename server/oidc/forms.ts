import type { Context } from 'koa';

const LIMIT = 16 * 1024;

/**
 * Reads an `application/x-www-form-urlencoded` body of a partner-facing page. The parsed
 * form is kept on the context, so a second reader (the broker, then the password form) sees it too.
 */
export async function readForm(ctx: Context, limit = LIMIT): Promise<URLSearchParams> {
  const state = ctx.state as { form?: URLSearchParams };
  if (state.form) return state.form;
  if (ctx.request.type !== 'application/x-www-form-urlencoded') return new URLSearchParams();
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, 'form too large');
    chunks.push(chunk);
  }
  state.form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  return state.form;
}
