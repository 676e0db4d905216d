import type { Context } from 'koa';
import { ScimError } from './errors.ts';

export const SCIM_MEDIA_TYPE = 'application/scim+json';
const BODY_LIMIT = 1024 * 1024;

/** A SCIM request body: application/scim+json (or application/json), at most 1 MiB. */
export async function readScimBody(ctx: Context): Promise<unknown> {
  const type = ctx.request.type;
  if (type !== SCIM_MEDIA_TYPE && type !== 'application/json') throw new ScimError(415, undefined, `send ${SCIM_MEDIA_TYPE} (got ${type || 'no content-type'})`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) {
      ctx.set('Connection', 'close');
      throw new ScimError(413, undefined, `the body exceeds ${BODY_LIMIT} bytes`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ScimError(400, 'invalidSyntax', 'the body is not valid JSON');
  }
}
