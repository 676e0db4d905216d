import type { Context } from 'koa';
import { Provenance, type ChangeContext } from '../changes.ts';
import { badRequest } from '../errors.ts';

export const PROVENANCE_HEADER = 'gatehouse-provenance';

interface AdminState {
  actor: string;
}

/** Who is calling (set by the guard) and the provenance they declare in the header. */
export function changeContext(ctx: Context): ChangeContext {
  const header = ctx.get(PROVENANCE_HEADER);
  const context: ChangeContext = { actor: (ctx.state as AdminState).actor };
  if (!header) return context;
  let parsed: unknown;
  try {
    parsed = JSON.parse(header);
  } catch {
    throw badRequest(`the ${PROVENANCE_HEADER} header must be a JSON object of strings, e.g. {"source":"git","commit":"3f2a9c1"}`);
  }
  const result = Provenance.safeParse(parsed);
  if (!result.success) throw badRequest(`the ${PROVENANCE_HEADER} header must be a JSON object of at most 32 string values: ${result.error.issues[0]!.message}`);
  context.provenance = result.data;
  return context;
}
