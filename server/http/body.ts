import type { Context } from 'koa';
import { parse as parseYaml } from 'yaml';
import { Problem, badRequest } from '../errors.ts';

export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

/**
 * Reads a JSON (or single-document YAML) request body, refusing it before anything
 * is written when it is too large (413), of another media type (415) or malformed (400).
 */
export async function readBody(ctx: Context, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const type = ctx.request.type;
  const isJson = type === 'application/json' || type.endsWith('+json');
  const isYaml = type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml';
  if (!isJson && !isYaml) {
    throw new Problem(415, 'Unsupported media type', `send the object as application/json or application/yaml (got ${type || 'no content-type'})`);
  }
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Stop reading; the connection is closed after the 413 so the rest is never parsed.
      ctx.set('Connection', 'close');
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw badRequest('the request body is empty; send the whole object');
  try {
    return isJson ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 0 });
  } catch (error) {
    throw badRequest(`the request body is not valid ${isJson ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`);
  }
}

function tooLarge(limit: number): Problem {
  return new Problem(413, 'Payload too large', `the request body exceeds ${limit} bytes`);
}
