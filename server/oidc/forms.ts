import type { Context } from 'koa';

const LIMIT = 16 * 1024;

/** Reads an `application/x-www-form-urlencoded` body of a partner-facing page. */
export async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded') return new URLSearchParams();
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT) ctx.throw(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
