import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SOURCE_ANNOTATION, parseObject, type AnyObject, type IdPConnectionObject } from '../../api/index.ts';
import { parse as parseYaml } from 'yaml';
import { exportFiles } from '../../cli/export.ts';
import { AdminClient } from '../../client/admin-client.ts';
import { ControllerLoop } from '../../controller/loop.ts';
import type { DesiredState } from '../../controller/desired-state.ts';
import { MANAGED_BY } from '../../controller/ownership.ts';
import { Reconciler, TransientError } from '../../controller/reconciler.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../support/objects.ts';

let gh: TestServer;
let admin: AdminClient;

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
});
afterAll(async () => {
  await gh.close();
});

const desired = (inputs: object[], extra: Partial<DesiredState> = {}): DesiredState => ({
  objects: inputs.map((input, i) => ({
    object: parseObject(input, { defaultNamespace: NS }),
    provenance: { source: 'directory', file: 'partners.yaml', document: String(i + 1) },
    origin: { file: 'partners.yaml', document: i + 1 },
  })),
  errors: [],
  complete: true,
  ...extra,
});

const ready = (object: AnyObject | undefined) => (object?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
const audit = async (name: string) => ((await admin.request('GET', `/admin/v1/audit?namespace=${NS}&limit=1000`)) as { items: { action: string; name: string; data: { provenance?: Record<string, string> } }[] }).items.filter((r) => r.name === name);

// Listed children before parents and dependants before what they reference: the reconciler orders them.
const partner = [
  user('ana', 'cascade', { roles: ['organization-admin'] }),
  accessPolicy('cascade-policy', 'cascade', { clientRef: { name: 'cascade-app' } }),
  claimMapping('cascade-claims', 'cascade'),
  client('cascade-app', 'cascade'),
  idp('cascade-idp', 'cascade'),
  organization('cascade-emea', { parentRef: { name: 'cascade' } }),
  organization('cascade', { templateRef: { name: 'standard' } }),
  template('standard'),
  workspace(),
];

describe('reconciler: a pass applies the difference in dependency order', () => {
  const reconciler = () => new Reconciler({ client: admin, owner: 'test-controller', source: 'directory', now: () => new Date('2026-11-23T10:00:00Z') });

  it('creates every declared object from empty, parents before sub-organizations, each Ready', async () => {
    const report = await reconciler().reconcile(desired(partner));
    expect(report).toMatchObject({ declared: 9, applied: 9, created: 9, failed: 0, problems: [] });
    const org = await admin.get('Organization', NS, 'cascade-emea');
    expect(org?.metadata.annotations?.[MANAGED_BY]).toBe('test-controller');
    expect(ready(org)).toMatchObject({ status: 'True', reason: 'Reconciled', observedGeneration: 1 });
    expect(org?.status).toMatchObject({ observedGeneration: 1 });
  });

  it('makes zero writes on a second pass over unchanged input', async () => {
    const report = await reconciler().reconcile(desired(partner));
    expect(report).toMatchObject({ applied: 9, unchanged: 9, writes: 0 });
  });

  it('records the provenance of each change, with the reason, in the audit log', async () => {
    const records = await audit('cascade-app');
    expect(records[0]).toMatchObject({ action: 'Client.created', data: { provenance: { source: 'directory', file: 'partners.yaml', reason: 'declared', controller: 'test-controller' } } });
  });

  it('applies only what changed and bumps only its generation', async () => {
    const changed = partner.map((o) => (o.metadata.name === 'cascade' && o.kind === 'Organization' ? organization('cascade', { templateRef: { name: 'standard' }, tokens: { accessToken: '5m' } }) : o));
    const report = await reconciler().reconcile(desired(changed));
    expect(report).toMatchObject({ updated: 1, unchanged: 8, failed: 0 });
    const org = await admin.get('Organization', NS, 'cascade');
    expect(org?.metadata.generation).toBe(2);
    expect(ready(org)).toMatchObject({ status: 'True', observedGeneration: 2 });
    expect((await reconciler().reconcile(desired(changed))).writes).toBe(0);
  });
});

describe('reconciler: one bad object does not stop the others', () => {
  let reconciler: Reconciler;
  beforeAll(() => {
    reconciler = new Reconciler({ client: admin, owner: 'bad-objects', source: 'directory' });
  });

  it('marks a dangling reference Ready=False naming the field and converges the rest', async () => {
    const report = await reconciler.reconcile(desired([organization('forge'), client('forge-app', 'forge'), client('orphan-app', 'nobody')]));
    expect(report).toMatchObject({ applied: 2, failed: 1 });
    expect(report.problems).toEqual([{ label: `Client ${NS}/orphan-app`, message: expect.stringContaining('spec.organizationRef.name: Organization "nobody" does not exist'), origin: { file: 'partners.yaml', document: 3 } }]);
    expect(report.results.find((r) => r.key.name === 'orphan-app')?.readiness.reason).toBe('InvalidReference');
  });

  it('reports a cycle of parents on every organization in it, naming spec.parentRef.name', async () => {
    const report = await reconciler.reconcile(desired([organization('forge'), client('forge-app', 'forge'), organization('loop-a', { parentRef: { name: 'loop-b' } }), organization('loop-b', { parentRef: { name: 'loop-a' } })]));
    expect(report).toMatchObject({ applied: 2, failed: 2 });
    expect(report.problems.map((p) => p.message)).toEqual([`Organization ${NS}/loop-a: spec.parentRef.name: makes a cycle of parents: loop-a → loop-b → loop-a`, `Organization ${NS}/loop-b: spec.parentRef.name: makes a cycle of parents: loop-b → loop-a → loop-b`]);
  });

  it('keeps an object whose new declaration is invalid, and says why on its status', async () => {
    const report = await reconciler.reconcile({
      ...desired([organization('forge')]),
      errors: [{ target: { kind: 'Client', namespace: NS, name: 'forge-app' }, label: `Client ${NS}/forge-app`, reason: 'InvalidSpec', message: `Client ${NS}/forge-app: spec.type: Invalid option` }],
    });
    expect(report).toMatchObject({ applied: 1, failed: 1, deleted: 0 });
    const app = await admin.get('Client', NS, 'forge-app');
    expect(ready(app)).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: `Client ${NS}/forge-app: spec.type: Invalid option` });
  });

  it('deletes nothing in a pass whose input could not all be read', async () => {
    const report = await reconciler.reconcile({ ...desired([]), complete: false });
    expect(report.deleted).toBe(0);
    expect(await admin.get('Organization', NS, 'forge')).toBeDefined();
  });
});

describe('reconciler: drift and ownership', () => {
  const owner = 'drift-controller';
  let reconciler: Reconciler;
  const declared = [organization('pinnacle'), client('pinnacle-app', 'pinnacle'), claimMapping('pinnacle-claims', 'pinnacle')];

  beforeAll(async () => {
    reconciler = new Reconciler({ client: admin, owner, source: 'git' });
    await reconciler.reconcile(desired(declared));
  });

  it('puts back a change made through the admin API and audits it as drift', async () => {
    const drifted = parseObject(client('pinnacle-app', 'pinnacle', { redirectUris: ['https://evil.example/cb'] }), { defaultNamespace: NS });
    const current = await admin.get('Client', NS, 'pinnacle-app');
    await admin.apply({ ...drifted, metadata: current!.metadata } as AnyObject);
    const report = await reconciler.reconcile(desired(declared));
    expect(report).toMatchObject({ updated: 1, unchanged: 2 });
    expect((await admin.get('Client', NS, 'pinnacle-app'))?.spec).toMatchObject({ redirectUris: ['https://app.example/callback'] });
    const [latest] = await audit('pinnacle-app');
    expect(latest).toMatchObject({ action: 'Client.updated', data: { provenance: { reason: 'drift', controller: owner } } });
  });

  it('recreates a declared object deleted through the admin API, as drift', async () => {
    await admin.delete('ClaimMapping', NS, 'pinnacle-claims');
    expect(await reconciler.reconcile(desired(declared))).toMatchObject({ created: 1 });
    expect((await audit('pinnacle-claims'))[0]).toMatchObject({ action: 'ClaimMapping.created', data: { provenance: { reason: 'drift' } } });
  });

  it('deletes what it created once undeclared, dependants first, and never what it did not create', async () => {
    await admin.apply(parseObject(user('walk-in', 'pinnacle'), { defaultNamespace: NS }));
    const report = await reconciler.reconcile(desired([organization('pinnacle')]));
    expect(report).toMatchObject({ deleted: 2, failed: 0 });
    expect(await admin.get('Client', NS, 'pinnacle-app')).toBeUndefined();
    expect(await admin.get('User', NS, 'walk-in')).toBeDefined();
    // The organization stays declared; the user it did not create still references it.
    expect((await audit('pinnacle-app'))[0]).toMatchObject({ action: 'Client.deleted', data: { provenance: { reason: 'undeclared', controller: owner } } });
    const none = await reconciler.reconcile(desired([]));
    expect(none.problems[0]?.message).toContain('is still referenced by User walk-in');
    expect(await admin.get('Organization', NS, 'pinnacle')).toBeDefined();
  });

  it('adopts a declared object nobody owns without claiming it, and leaves another controller’s objects alone', async () => {
    await admin.apply(parseObject(organization('adopted'), { defaultNamespace: NS }));
    const theirs = parseObject(organization('theirs'), { defaultNamespace: NS });
    await admin.apply({ ...theirs, metadata: { ...theirs.metadata, annotations: { [MANAGED_BY]: 'someone-else' } } } as AnyObject);
    const report = await reconciler.reconcile(desired([organization('pinnacle'), organization('adopted', { displayName: 'Adopted' }), organization('theirs', { displayName: 'Mine now?' })]));
    expect(report.results.find((r) => r.key.name === 'adopted')).toMatchObject({ outcome: 'updated' });
    expect((await admin.get('Organization', NS, 'adopted'))?.metadata.annotations?.[MANAGED_BY]).toBeUndefined();
    expect(report.results.find((r) => r.key.name === 'theirs')?.readiness).toMatchObject({ reason: 'OwnedElsewhere' });
    expect((await admin.get('Organization', NS, 'theirs'))?.spec).toMatchObject({ displayName: 'theirs' });
    await reconciler.reconcile(desired([organization('pinnacle')]));
    expect(await admin.get('Organization', NS, 'adopted')).toBeDefined();
  });
});

describe('reconciler: drift mode report (a person decides)', () => {
  const owner = 'drift-reporter';
  const declared = [organization('keel'), client('keel-app', 'keel'), claimMapping('keel-claims', 'keel')];
  const reporter = () => new Reconciler({ client: admin, owner, source: 'git', drift: 'report' });
  const condition = (object: AnyObject | undefined, type: string) => (object?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined)?.conditions?.find((c) => c.type === type);
  const tamper = async () => {
    const current = await admin.get('Client', NS, 'keel-app');
    await admin.apply({ ...parseObject(client('keel-app', 'keel', { redirectUris: ['https://evil.example/cb'] }), { defaultNamespace: NS }), metadata: current!.metadata } as AnyObject);
  };

  beforeAll(async () => {
    const report = await reporter().reconcile(desired(declared));
    expect(report.failed).toBe(0);
  });

  it('a pass that meets nothing changed on the server adds no Drifted condition (and so no status write)', async () => {
    expect(condition(await admin.get('Client', NS, 'keel-app'), 'Drifted')).toBeUndefined();
    expect(await reporter().reconcile(desired(declared))).toMatchObject({ drifted: 0, writes: 0 });
  });

  it('leaves a change made on the server, sets Drifted=True naming the field (never its value), reports and audits it', async () => {
    await tamper();
    const report = await reporter().reconcile(desired(declared));
    expect(report).toMatchObject({ drifted: 1, updated: 0, unchanged: 2 });
    const stored = await admin.get('Client', NS, 'keel-app');
    expect(stored?.spec).toMatchObject({ redirectUris: ['https://evil.example/cb'] });
    const drifted = condition(stored, 'Drifted');
    expect(drifted).toMatchObject({ status: 'True', reason: 'ChangedOnServer' });
    expect(drifted!.message).toContain(`Client ${NS}/keel-app differs from its declaration in spec.redirectUris (changed on the server at generation 2)`);
    expect(drifted!.message).not.toContain('evil.example');
    expect(ready(stored)).toMatchObject({ status: 'False', reason: 'Drifted' });
    expect(report.problems.map((p) => p.message)).toEqual([drifted!.message]);
    expect((await audit('keel-app'))[0]).toMatchObject({ action: 'Client.drift-reported', data: { generation: 2, message: drifted!.message } });
  });

  it('keeps reporting on later passes without correcting, and audits the drift once', async () => {
    const report = await reporter().reconcile(desired(declared));
    expect(report).toMatchObject({ drifted: 1, updated: 0, writes: 0 });
    expect((await admin.get('Client', NS, 'keel-app'))?.spec).toMatchObject({ redirectUris: ['https://evil.example/cb'] });
    expect((await audit('keel-app')).filter((r) => r.action === 'Client.drift-reported')).toHaveLength(1);
  });

  it('an object deleted on the server is reported, not recreated', async () => {
    const reconciler = reporter();
    await reconciler.reconcile(desired(declared));
    await admin.delete('ClaimMapping', NS, 'keel-claims');
    const report = await reconciler.reconcile(desired(declared));
    expect(report).toMatchObject({ drifted: 2, created: 0 });
    expect(report.problems.map((p) => p.message)).toContain(`ClaimMapping ${NS}/keel-claims was deleted on the server, not in its declaration; drift is reported, not corrected (--drift=report): change the declaration to match, or run the controller with --drift=correct to put it back`);
    expect(await admin.get('ClaimMapping', NS, 'keel-claims')).toBeUndefined();
  });

  it('the default mode corrects it and turns Drifted False', async () => {
    const report = await new Reconciler({ client: admin, owner, source: 'git' }).reconcile(desired(declared));
    expect(report).toMatchObject({ drifted: 0, updated: 1, created: 1 });
    const stored = await admin.get('Client', NS, 'keel-app');
    expect(stored?.spec).toMatchObject({ redirectUris: ['https://app.example/callback'] });
    expect(condition(stored, 'Drifted')).toMatchObject({ status: 'False', reason: 'InSync' });
    expect(ready(stored)).toMatchObject({ status: 'True', reason: 'Reconciled' });
    expect((await audit('keel-app'))[0]).toMatchObject({ action: 'Client.updated', data: { provenance: { reason: 'drift' } } });
  });

  it('a declaration changed to match the server clears the drift in report mode too', async () => {
    await tamper();
    await reporter().reconcile(desired(declared));
    const accepted = [organization('keel'), client('keel-app', 'keel', { redirectUris: ['https://evil.example/cb'] }), claimMapping('keel-claims', 'keel')];
    expect(await reporter().reconcile(desired(accepted))).toMatchObject({ drifted: 0, updated: 0 });
    const stored = await admin.get('Client', NS, 'keel-app');
    expect(condition(stored, 'Drifted')).toMatchObject({ status: 'False' });
    expect(ready(stored)).toMatchObject({ status: 'True' });
  });
});

describe('reconciler: connections partners set up in the portal', () => {
  const owner = 'git-controller';
  const reconciler = () => new Reconciler({ client: admin, owner, source: 'git' });
  const portal = { ...idp('summit-sso', 'summit', { priority: 50, jit: { enabled: true } }), metadata: { name: 'summit-sso', namespace: NS, annotations: { [SOURCE_ANNOTATION]: 'portal' } } };

  beforeAll(async () => {
    await reconciler().reconcile(desired([organization('summit')]));
    // As the portal's Enable writes it (server/federation-setup/): no managed-by, marked as the portal's.
    await gh.gatehouse.objects.apply(portal, { actor: 'user:ada', provenance: { source: 'portal' } });
    await gh.gatehouse.objects.setStatus('IdPConnection', NS, 'summit-sso', { source: { type: 'portal', author: 'user:ada', date: '2026-11-23T09:00:00Z' } });
  });

  it('never deletes what a partner set up, though it is not declared', async () => {
    const report = await reconciler().reconcile(desired([organization('summit')]));
    expect(report).toMatchObject({ deleted: 0, failed: 0 });
    expect((await admin.get('IdPConnection', NS, 'summit-sso'))?.metadata.annotations).toEqual({ [SOURCE_ANNOTATION]: 'portal' });
  });

  it('takes it over once its export is committed: same name, adopted and owned, the portal marker gone', async () => {
    const [file] = exportFiles([(await admin.get('IdPConnection', NS, 'summit-sso')) as IdPConnectionObject]);
    expect(file!.path).toBe(`${NS}/idpconnection-summit-sso.yaml`);
    expect(file!.text).toMatch(/^# Set up in the partner portal by user:ada on 2026-11-23T09:00:00Z/);
    const committed = parseYaml(file!.text) as AnyObject;
    expect(committed.metadata).toEqual({ name: 'summit-sso', namespace: NS });
    expect(committed).not.toHaveProperty('status');
    const report = await reconciler().reconcile(desired([organization('summit'), committed]));
    expect(report.results.find((r) => r.key.name === 'summit-sso')).toMatchObject({ outcome: 'updated' });
    const taken = await admin.get('IdPConnection', NS, 'summit-sso');
    expect(taken?.metadata.annotations).toEqual({ [MANAGED_BY]: owner });
    expect(taken?.spec).toEqual(parseObject(portal, { defaultNamespace: NS }).spec);
    expect(taken?.status).not.toHaveProperty('source');
    expect(ready(taken)).toMatchObject({ status: 'True', reason: 'Reconciled' });
    // Owned now: removed from git, it goes.
    expect(await reconciler().reconcile(desired([organization('summit')]))).toMatchObject({ deleted: 1 });
    expect(await admin.get('IdPConnection', NS, 'summit-sso')).toBeUndefined();
  });

  it('never lets a declaration claim to be the portal’s', async () => {
    const forged = { ...idp('forged-sso', 'summit'), metadata: { name: 'forged-sso', namespace: NS, annotations: { [SOURCE_ANNOTATION]: 'portal' } } };
    await reconciler().reconcile(desired([organization('summit'), forged]));
    expect((await admin.get('IdPConnection', NS, 'forged-sso'))?.metadata.annotations).toEqual({ [MANAGED_BY]: owner });
  });
});

describe('reconciler: the server down or slow', () => {
  it('stops the pass with a TransientError when the server cannot be reached', async () => {
    const down = new AdminClient({ endpoint: 'http://127.0.0.1:9', token: 'x', attempts: 1 });
    await expect(new Reconciler({ client: down, owner: 'o', source: 'directory' }).reconcile(desired([organization('x')]))).rejects.toBeInstanceOf(TransientError);
  });

  it('retries with backoff until the server answers, and applies each object exactly once', async () => {
    let outage = true;
    let refused = 0;
    const flaky: typeof fetch = async (input, init) => {
      if (outage) {
        refused++;
        if (refused >= 40) outage = false;
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
      }
      return fetch(input, init);
    };
    const client = new AdminClient({ endpoint: gh.url, token: gh.token, attempts: 2, backoffMs: 1, fetch: flaky });
    const waits: number[] = [];
    const loop = new ControllerLoop({
      reconciler: new Reconciler({ client, owner: 'flaky', source: 'directory' }),
      read: async () => desired([organization('retry-org'), client_('retry-app')]),
      backoffBaseMs: 10,
      random: () => 1,
      onError: (_e, wait) => waits.push(wait),
    });
    loop.start();
    while (loop.passes === 0) await new Promise((r) => setTimeout(r, 10));
    await loop.stop();
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(loop.lastReport).toMatchObject({ created: 2, failed: 0 });
    expect((await audit('retry-app')).map((r) => r.action)).toEqual(['Client.created']);
  });
});

function client_(name: string) {
  return client(name, 'retry-org');
}

describe('controller loop', () => {
  it('backs off exponentially with full jitter, capped', async () => {
    const waits: number[] = [];
    const loop = new ControllerLoop({
      reconciler: new Reconciler({ client: admin, owner: 'never', source: 'directory' }),
      read: async () => {
        throw new Error('cannot read');
      },
      backoffBaseMs: 100,
      backoffMaxMs: 400,
      random: () => 0.99,
      onError: (_e, wait) => waits.push(wait),
    });
    // Drive retries by hand instead of waiting for the timers.
    loop.start();
    for (let i = 0; i < 4; i++) {
      await loop.idle();
      loop.trigger();
    }
    await loop.idle();
    await loop.stop();
    expect(waits).toEqual([99, 198, 396, 396, 396]);
  });

  it('coalesces triggers that arrive during a pass into one more pass', async () => {
    let reads = 0;
    const loop = new ControllerLoop({
      reconciler: new Reconciler({ client: admin, owner: 'coalesce', source: 'directory' }),
      read: async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 30));
        return desired([]);
      },
    });
    loop.start();
    loop.trigger();
    loop.trigger();
    loop.trigger();
    await loop.idle();
    await loop.stop();
    expect(reads).toBe(2);
  });
});
