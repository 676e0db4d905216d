import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseObject, type AnyObject } from '../../api/index.ts';
import { AdminClient } from '../../client/admin-client.ts';
import { ControllerLoop } from '../../controller/loop.ts';
import { keyOf, objectKey, parseKey, type DesiredState } from '../../controller/desired-state.ts';
import { MANAGED_BY } from '../../controller/ownership.ts';
import { Reconciler } from '../../controller/reconciler.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NS, claimMapping, client, organization } from '../support/objects.ts';

let gh: TestServer;
/** Every request the controller's client sent, as `METHOD path`. */
const sent: string[] = [];
let admin: AdminClient;

beforeAll(async () => {
  gh = await startTestServer();
  const counting: typeof fetch = (input, init) => {
    sent.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
    return fetch(input, init);
  };
  admin = new AdminClient({ endpoint: gh.url, token: gh.token, fetch: counting });
});
afterAll(async () => {
  await gh.close();
});

const desired = (inputs: object[], extra: Partial<DesiredState> = {}): DesiredState => ({
  objects: inputs.map((input, i) => ({ object: parseObject(input, { defaultNamespace: NS }), provenance: { source: 'directory', file: 'partners.yaml', document: String(i + 1) }, origin: { file: 'partners.yaml', document: i + 1 } })),
  errors: [],
  complete: true,
  ...extra,
});
const ready = (object: AnyObject | undefined) => (object?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
const partners = (n: number, spec: object = {}) => Array.from({ length: n }, (_, i) => [organization(`p${i}`, spec), client(`p${i}-app`, `p${i}`), claimMapping(`p${i}-claims`, `p${i}`)]).flat();
const keys = (...inputs: object[]) => new Set(inputs.map((i) => keyOf(objectKey(parseObject(i, { defaultNamespace: NS })))));
const reconciler = () => new Reconciler({ client: admin, owner: 'keyed-controller', source: 'directory', bulkSize: 10, bulkMin: 4 });

describe('full pass: creates, updates and statuses go out in bulk', () => {
  it('converges 12 partners in bulk applies and bulk status writes, not one request per object', async () => {
    sent.length = 0;
    const report = await reconciler().reconcile(desired(partners(12)));
    expect(report).toMatchObject({ created: 36, failed: 0, statusWrites: 36 });
    expect(sent.filter((r) => r === `POST /admin/v1/namespaces/${NS}/apply`)).toHaveLength(6); // 12 + 12 + 12 objects, 10 a batch
    // 12 statuses per level: 10 and 2 a batch.
    expect(sent.filter((r) => r === `POST /admin/v1/namespaces/${NS}/status`)).toHaveLength(6);
    expect(sent.filter((r) => r.startsWith('PUT '))).toEqual([]);
    expect(ready(await admin.get('Client', NS, 'p11-app'))).toMatchObject({ status: 'True', reason: 'Reconciled', observedGeneration: 1 });
    const records = (await admin.request('GET', `/admin/v1/audit?namespace=${NS}&limit=1000`)) as { items: { action: string; name: string; data: { provenance?: Record<string, string> } }[] };
    expect(records.items.find((r) => r.name === 'p3-app')).toMatchObject({ action: 'Client.created', data: { provenance: { file: 'partners.yaml', document: '11', reason: 'declared', controller: 'keyed-controller' } } });
  });

  it('an idle full pass writes nothing', async () => {
    sent.length = 0;
    const report = await reconciler().reconcile(desired(partners(12)));
    expect(report.writes).toBe(0);
    expect(sent.filter((r) => !r.startsWith('GET '))).toEqual([]);
  });

  it('a batch with one invalid object is written one by one: the others converge, the one at fault names its field', async () => {
    const inputs = partners(12, { displayName: 'Renamed' }).map((o) => ((o as { kind: string }).kind === 'Client' ? { ...o, spec: { ...(o as { spec: object }).spec, redirectUris: ['https://renamed.example/callback'] } } : o));
    inputs[4 * 3 + 1] = client('p4-app', 'nobody');
    sent.length = 0;
    const report = await reconciler().reconcile(desired(inputs));
    expect(report).toMatchObject({ updated: 12 + 11, failed: 1 });
    // The clients' first batch was refused as a whole, then sent one by one.
    expect(sent.filter((r) => r.startsWith(`PUT /admin/v1/namespaces/${NS}/clients/`) && !r.endsWith('/status'))).toHaveLength(10);
    expect(report.problems[0]!.message).toContain('spec.organizationRef.name');
    expect((await admin.get('Organization', NS, 'p11'))?.spec).toMatchObject({ displayName: 'Renamed' });
    expect(ready(await admin.get('Client', NS, 'p4-app'))).toMatchObject({ status: 'False', reason: 'InvalidReference' });
  });
});

describe('keyed pass: reconciles what changed, by key, at the cost of the change', () => {
  it('reads its keys by name and never lists a kind', async () => {
    await reconciler().reconcile(desired(partners(12)));
    sent.length = 0;
    const changed = organization('p7', { displayName: 'Seven' });
    const report = await reconciler().reconcileKeys(desired([changed]), keys(changed));
    expect(report).toMatchObject({ declared: 1, updated: 1, failed: 0, statusWrites: 1 });
    expect([...report.keys!]).toEqual([`Organization ${NS}/p7`]);
    expect(sent).toEqual([`GET /admin/v1/namespaces/${NS}/organizations/p7`, `PUT /admin/v1/namespaces/${NS}/organizations/p7`, `PUT /admin/v1/namespaces/${NS}/organizations/p7/status`]);
  });

  it('ignores declarations of other keys it is handed', async () => {
    const report = await reconciler().reconcileKeys(desired(partners(12, { displayName: 'Ignored' })), keys(organization('p7')));
    expect(report.declared).toBe(1);
    expect((await admin.get('Organization', NS, 'p8'))?.spec).not.toMatchObject({ displayName: 'Ignored' });
  });

  it('deletes an undeclared key it created, dependants first, and never one it did not create', async () => {
    await gh.put('organizations', organization('stranger'));
    const gone = [organization('p9'), client('p9-app', 'p9'), claimMapping('p9-claims', 'p9'), organization('stranger')];
    const report = await reconciler().reconcileKeys(desired([]), keys(...gone));
    expect(report.deleted).toBe(3);
    expect(await admin.get('Organization', NS, 'p9')).toBeUndefined();
    expect((await admin.get('Organization', NS, 'stranger'))?.metadata.annotations?.[MANAGED_BY]).toBeUndefined();
  });

  it('deletes nothing when the source could not be read completely', async () => {
    const report = await reconciler().reconcileKeys(desired([], { complete: false }), keys(claimMapping('p8-claims', 'p8')));
    expect(report.deleted).toBe(0);
    expect(await admin.get('ClaimMapping', NS, 'p8-claims')).toBeDefined();
  });

  it('keys round-trip, and a string that is not a key is no key', () => {
    expect(parseKey(`Client ${NS}/p1-app`)).toEqual({ kind: 'Client', namespace: NS, name: 'p1-app' });
    expect(parseKey('Planet x/y')).toBeUndefined();
    expect(parseKey('Client x')).toBeUndefined();
  });
});

describe('work queue', () => {
  it('dedups keys, reconciles them in a keyed pass, requeues one waiting for a reference once something is created, and counts failures across passes', async () => {
    let state = desired([client('late-app', 'late')]);
    const passes: (ReadonlySet<string> | undefined)[] = [];
    const failing: number[] = [];
    const loop = new ControllerLoop({
      reconciler: reconciler(),
      read: async () => state,
      readKeys: async () => state,
      onPass: (report) => void passes.push(report.keys),
      observer: { passed: (_s, report) => void failing.push(report.failed), failed: () => {} },
      resyncMs: 3_600_000,
    });
    loop.start();
    await loop.idle();
    expect(ready(await admin.get('Client', NS, 'late-app'))).toBeUndefined(); // refused: its organization is not there
    state = desired([organization('late'), client('late-app', 'late')]);
    loop.enqueue([`Organization ${NS}/late`, `Organization ${NS}/late`]);
    await loop.idle();
    expect(passes[1]).toEqual(new Set([`Organization ${NS}/late`]));
    // The organization's creation requeued the client waiting for it.
    expect(passes[2]).toEqual(new Set([`Client ${NS}/late-app`]));
    expect(ready(await admin.get('Client', NS, 'late-app'))).toMatchObject({ status: 'True' });
    expect(loop.keyedPasses).toBe(2);
    // The failed-objects gauge counts the whole workspace: a keyed pass over other keys leaves the client failing.
    expect(failing).toEqual([1, 1, 0]);
    await loop.stop();
  });
});
