import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminApiError, AdminClient } from '../../client/admin-client.ts';
import { parseObject } from '../../api/index.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NS, client, organization } from '../support/objects.ts';

let gh: TestServer;
let admin: AdminClient;

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token, provenance: { source: 'test' } });
});
afterAll(async () => {
  await gh.close();
});

describe('AdminClient', () => {
  it('applies, reads, lists and deletes objects', async () => {
    const org = parseObject(organization('cascade'), { defaultNamespace: NS });
    expect((await admin.apply(org)).outcome).toBe('created');
    expect((await admin.apply(org)).outcome).toBe('unchanged');
    expect((await admin.get('Organization', NS, 'cascade'))?.metadata.generation).toBe(1);
    expect((await admin.list('Organization', NS)).map((o) => o.metadata.name)).toEqual(['cascade']);
    expect(await admin.get('Organization', NS, 'nobody')).toBeUndefined();
    expect(await admin.delete('Organization', NS, 'cascade')).toBe(true);
    expect(await admin.delete('Organization', NS, 'cascade')).toBe(false);
  });

  it('records its provenance in the audit log', async () => {
    const records = (await admin.request('GET', '/admin/v1/audit?organization=cascade&limit=1')) as { items: { data: { provenance: unknown } }[] };
    expect(records.items[0]!.data.provenance).toEqual({ source: 'test' });
  });

  it('surfaces a refusal with the field paths of the problem', async () => {
    const orphan = parseObject(client('orphan', 'nobody'), { defaultNamespace: NS });
    const error = await admin.apply(orphan).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdminApiError);
    expect((error as AdminApiError).status).toBe(422);
    expect((error as AdminApiError).errors[0]!.path).toBe('spec.organizationRef.name');
    expect((error as AdminApiError).transient).toBe(false);
  });

  it('retries transient failures with backoff, then succeeds', async () => {
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls <= 2) return new Response('{"detail":"busy"}', { status: 503 });
      return fetch(input, init);
    };
    const waits: number[] = [];
    const patient = new AdminClient({ endpoint: gh.url, token: gh.token, fetch: flaky, sleep: async (ms) => void waits.push(ms) });
    expect(await patient.list('Organization', NS)).toEqual([]);
    expect(calls).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('gives up after its attempts and says which server it could not reach, never the token', async () => {
    const down = new AdminClient({ endpoint: 'http://127.0.0.1:9', token: 'secret-token-value-1234567890', attempts: 2, sleep: async () => {} });
    const error = (await down.list('Organization').catch((e: unknown) => e)) as AdminApiError;
    expect(error.status).toBe(0);
    expect(error.message).toContain('cannot reach the Gatehouse admin API at http://127.0.0.1:9');
    expect(error.message).not.toContain('secret-token-value');
  });

  it('explains a wrong token', async () => {
    const wrong = new AdminClient({ endpoint: gh.url, token: 'wrong-token-wrong-token-wrong' });
    await expect(wrong.list('Organization')).rejects.toThrow('the admin token is not valid');
  });
  it('applies a batch in one call, and a refused batch names the item and writes nothing', async () => {
    const org = parseObject(organization('batch'), { defaultNamespace: NS });
    const web = parseObject(client('batch-web', 'batch'), { defaultNamespace: NS });
    const results = await admin.applyMany(NS, [{ object: org, provenance: { file: 'batch.yaml' } }, { object: web }]);
    expect(results.map((r) => [r.outcome, r.object.metadata.name])).toEqual([
      ['created', 'batch'],
      ['created', 'batch-web'],
    ]);
    expect((await admin.applyMany(NS, [{ object: org }], { dryRun: true }))[0]!.outcome).toBe('unchanged');
    const orphan = parseObject(client('batch-orphan', 'nobody'), { defaultNamespace: NS });
    const error = (await admin.applyMany(NS, [{ object: parseObject(client('batch-two', 'batch'), { defaultNamespace: NS }) }, { object: orphan }]).catch((e: unknown) => e)) as AdminApiError;
    expect(error).toBeInstanceOf(AdminApiError);
    expect(error.status).toBe(422);
    expect(error.problem.item).toBe(1);
    expect(error.errors[0]!.path).toBe('spec.organizationRef.name');
    expect(await admin.get('Client', NS, 'batch-two')).toBeUndefined();
  });
});
