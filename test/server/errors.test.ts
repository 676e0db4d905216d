import { describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import { ValidationError } from '../../api/index.ts';
import { BadRequest, Conflict, Forbidden, InvalidObject, NotFound, Problem, Unauthorized } from '../../server/errors.ts';
import { problemMiddleware } from '../../server/http/problems.ts';
import { listen } from '../../server/http/listen.ts';

async function answer(error: unknown): Promise<{ status: number; type: string | null; body: Record<string, unknown>; challenge: string | null; reported: unknown[] }> {
  const reported: unknown[] = [];
  const app = new Koa();
  app.use(problemMiddleware((e) => reported.push(e)));
  app.use(() => {
    throw error;
  });
  const server = await listen(app, { host: '127.0.0.1', port: 0 });
  try {
    const res = await fetch(server.url);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown>, challenge: res.headers.get('www-authenticate'), reported };
  } finally {
    await server.close();
  }
}

describe('server errors: typed problems rendered as RFC 9457 problem+json', () => {
  it.each([
    [new BadRequest('bad', [{ path: 'spec.x', message: 'wrong' }], 'Client ns/a'), 400, 'Bad request'],
    [new Unauthorized('send a token'), 401, 'Unauthorized'],
    [new Forbidden('not yours'), 403, 'Forbidden'],
    [new NotFound('gone'), 404, 'Not found'],
    [new Conflict('in use', { title: 'Has dependants' }), 409, 'Has dependants'],
    [new InvalidObject('no', { errors: [{ path: 'spec.y', message: 'too long' }], object: 'Organization ns/o' }), 422, 'Invalid object'],
  ])('%s answers its status and title', async (error, status, title) => {
    expect(error).toBeInstanceOf(Problem);
    const res = await answer(error);
    expect(res.status).toBe(status);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, title, detail: error.message });
    expect(res.challenge === null).toBe(status !== 401);
    expect(res.reported).toEqual([]);
  });

  it('names the object and fields of a validation error', async () => {
    const res = await answer(new ValidationError('Client ns/a', [{ path: 'spec.type', message: 'invalid' }]));
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ object: 'Client ns/a', errors: [{ path: 'spec.type', message: 'invalid' }] });
  });

  it('reports an unexpected error and reveals nothing of it', async () => {
    const res = await answer(new Error('password=hunter2 at db.ts:12'));
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(res.reported).toHaveLength(1);
  });
});
