import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { AdminClient } from '../../client/admin-client.ts';
import { SECRET_NAME_ANNOTATION } from '../../controller/kubernetes/client-secrets.ts';
import type { KubernetesController } from '../../controller/kubernetes/run.ts';
import type { FakeKube, KubeObject } from '../support/fake-kube.ts';
import type { Check } from '../support/eventually.ts';
import { readyOf as ready, startKubeControllerHarness, type KubeControllerHarness } from '../support/kube-controller.ts';
import type { TestServer } from '../support/server.ts';
import { NS, client, organization } from '../support/objects.ts';

let harness: KubeControllerHarness;
let kube: FakeKube;
let gh: TestServer;
let admin: AdminClient;
let controller: KubernetesController;
/** Every client secret the tests have seen, to prove none leaks anywhere else. */
const seen = new Set<string>();

const start = (identity: string) => harness.start(identity);
const eventually = <T>(check: Check<T>, ms?: number) => harness.eventually(check, ms);

const readyCr = (name: string, status = 'True') =>
  eventually(() => {
    const o = kube.get('clients', NS, name);
    return ready(o)?.status === status && o;
  });

/** The Secret's keys, decoded. */
function decoded(secret: KubeObject): Record<string, string> {
  const data = (secret.data ?? {}) as Record<string, string>;
  const out = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  if (out.client_secret) seen.add(out.client_secret);
  return out;
}

const secretWithValue = (name: string) =>
  eventually(() => {
    const s = kube.get('secrets', NS, name);
    return s && decoded(s).client_secret ? s : undefined;
  });

async function rotations(name: string): Promise<{ data: { provenance?: Record<string, string> } }[]> {
  const body = (await admin.request('GET', `/admin/v1/audit?action=Client.secret-rotated&limit=1000`)) as { items: { name: string; data: { provenance?: Record<string, string> } }[] };
  return body.items.filter((i) => i.name === name);
}

/** Client authentication as the token endpoint sees it: client_secret_basic (RFC 6749 §2.3.1, form-encoded id and secret). */
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function clientCredentials(creds: Record<string, string>): Promise<Response> {
  return fetch(`${creds.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(creds.client_id!, creds.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
}

/** A web client cannot use client_credentials; introspection also authenticates the client, and answers 401 to a wrong secret. */
async function introspectAs(creds: Record<string, string>): Promise<number> {
  const res = await fetch(`${creds.issuer}/token/introspection`, {
    method: 'POST',
    headers: { authorization: basic(creds.client_id!, creds.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: 'not-a-token' }),
  });
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  // A short resync: Secrets are read, not watched, so a deleted one is noticed on the next pass.
  harness = await startKubeControllerHarness({ resyncMs: 150 });
  ({ kube, gh, admin } = harness);
  controller = await start('replica-a');
  await eventually(() => controller.elector.leading);
  kube.create('organizations', organization('cascade') as KubeObject);
});
afterAll(async () => {
  await controller.stop();
  await harness.close();
});

describe('client secrets delivered into Kubernetes Secrets', () => {
  let m2mSecret = '';

  it('writes a web client’s id, secret and issuer to <name>-gatehouse-client, owned by the Client, and reports it in status', async () => {
    kube.create('clients', client('cascade-web', 'cascade') as KubeObject);
    const cr = await readyCr('cascade-web');
    expect(cr.status).toMatchObject({ secretName: 'cascade-web-gatehouse-client', clientId: `cascade-web.${NS}`, issuer: `${gh.url}/${NS}/cascade` });
    const secret = kube.get('secrets', NS, 'cascade-web-gatehouse-client')!;
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata.ownerReferences).toEqual([{ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Client', name: 'cascade-web', uid: cr.metadata.uid, controller: true }]);
    expect(secret.metadata.labels).toMatchObject({ 'gatehouse.dev/client': 'cascade-web' });
    const creds = decoded(secret);
    expect(Object.keys(creds).sort()).toEqual(['client_id', 'client_secret', 'issuer']);
    expect(creds).toMatchObject({ client_id: `cascade-web.${NS}`, issuer: `${gh.url}/${NS}/cascade` });
    expect(await introspectAs(creds)).toBe(200);
    expect(await introspectAs({ ...creds, client_secret: 'wrong' })).toBe(401);
    expect(await rotations('cascade-web')).toHaveLength(1);
    const [rotation] = await rotations('cascade-web');
    expect(rotation!.data.provenance).toMatchObject({ source: 'kubernetes', reason: 'secret-missing', secret: `${NS}/cascade-web-gatehouse-client` });
    const event = await eventually(() => kube.list('events').find((e) => (e.involvedObject as { name: string }).name === 'cascade-web' && e.reason === 'SecretRotated'));
    expect(event).toMatchObject({ type: 'Normal', message: expect.stringContaining(`Secret ${NS}/cascade-web-gatehouse-client`) });
  });

  it('gives an m2m client a secret that gets a client_credentials token from the issuer', async () => {
    kube.create('clients', client('cascade-sync', 'cascade', { type: 'm2m', redirectUris: undefined }) as KubeObject);
    await readyCr('cascade-sync');
    const creds = decoded(await secretWithValue('cascade-sync-gatehouse-client'));
    m2mSecret = creds.client_secret!;
    const res = await clientCredentials(creds);
    const body = (await res.json()) as { access_token?: string; token_type?: string };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
    expect((await clientCredentials({ ...creds, client_secret: 'wrong' })).status).toBe(401);
  });

  it('never rotates a Secret that is in place: more passes and a controller restart make zero rotations', async () => {
    const before = kube.get('secrets', NS, 'cascade-sync-gatehouse-client')!.metadata.resourceVersion;
    const passes = controller.loop.passes;
    await eventually(() => controller.loop.passes >= passes + 3);
    await controller.stop();
    controller = await start('replica-b');
    await eventually(() => controller.elector.leading);
    await eventually(() => controller.loop.passes >= 3);
    expect(await rotations('cascade-sync')).toHaveLength(1);
    expect(await rotations('cascade-web')).toHaveLength(1);
    expect(kube.get('secrets', NS, 'cascade-sync-gatehouse-client')!.metadata.resourceVersion).toBe(before);
    expect(decoded(kube.get('secrets', NS, 'cascade-sync-gatehouse-client')!).client_secret).toBe(m2mSecret);
  });

  it('rotates into a new Secret when the Secret is deleted; the old secret stops working', async () => {
    const old = decoded(kube.get('secrets', NS, 'cascade-sync-gatehouse-client')!);
    kube.remove('secrets', NS, 'cascade-sync-gatehouse-client');
    const fresh = decoded(
      await eventually(() => {
        const s = kube.get('secrets', NS, 'cascade-sync-gatehouse-client');
        return s && decoded(s).client_secret && decoded(s).client_secret !== old.client_secret ? s : undefined;
      }),
    );
    expect(fresh.client_id).toBe(old.client_id);
    expect((await clientCredentials(fresh)).status).toBe(200);
    expect((await clientCredentials(old)).status).toBe(401);
    expect(await rotations('cascade-sync')).toHaveLength(2);
    expect(ready(kube.get('clients', NS, 'cascade-sync'))).toMatchObject({ status: 'True' });
  });

  it('rotates into the existing Secret when the Client is re-created in the server (which forgets its secret)', async () => {
    const old = decoded(kube.get('secrets', NS, 'cascade-web-gatehouse-client')!);
    await admin.delete('Client', NS, 'cascade-web');
    const fresh = decoded(
      await eventually(() => {
        const s = kube.get('secrets', NS, 'cascade-web-gatehouse-client');
        return s && decoded(s).client_secret !== old.client_secret ? s : undefined;
      }),
    );
    expect(await introspectAs(fresh)).toBe(200);
    const all = await rotations('cascade-web');
    expect(all).toHaveLength(2);
    expect(all.map((r) => r.data.provenance?.reason)).toContain('client-recreated');
  });

  it('gives a public (spa) client no Secret and no rotation', async () => {
    kube.create('clients', client('cascade-spa', 'cascade', { type: 'spa' }) as KubeObject);
    const cr = await readyCr('cascade-spa');
    await eventually(() => controller.loop.passes >= 2);
    expect(cr.status?.secretName).toBeUndefined();
    expect(cr.status).toMatchObject({ clientId: `cascade-spa.${NS}` });
    expect(kube.get('secrets', NS, 'cascade-spa-gatehouse-client')).toBeUndefined();
    expect(await rotations('cascade-spa')).toHaveLength(0);
  });

  it('takes the Secret name from the gatehouse.dev/secret-name annotation', async () => {
    const cr = client('cascade-api', 'cascade', { type: 'm2m', redirectUris: undefined }) as KubeObject;
    cr.metadata.annotations = { [SECRET_NAME_ANNOTATION]: 'cascade-api-credentials' };
    kube.create('clients', cr);
    expect((await readyCr('cascade-api')).status?.secretName).toBe('cascade-api-credentials');
    expect((await clientCredentials(decoded(await secretWithValue('cascade-api-credentials')))).status).toBe(200);
    expect(kube.get('secrets', NS, 'cascade-api-gatehouse-client')).toBeUndefined();
  });

  it('leaves a Secret it does not own alone: Ready=False SecretConflict, with no rotation', async () => {
    kube.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cascade-other-gatehouse-client', namespace: NS }, data: { note: Buffer.from('someone else’s').toString('base64') } });
    kube.create('clients', client('cascade-other', 'cascade') as KubeObject);
    const cr = await readyCr('cascade-other', 'False');
    expect(ready(cr)).toMatchObject({ reason: 'SecretConflict', message: expect.stringContaining(SECRET_NAME_ANNOTATION) });
    expect(cr.status?.secretName).toBeUndefined();
    expect(kube.get('secrets', NS, 'cascade-other-gatehouse-client')!.data).toEqual({ note: Buffer.from('someone else’s').toString('base64') });
    expect(await rotations('cascade-other')).toHaveLength(0);
    await eventually(() => kube.list('events').find((e) => (e.involvedObject as { name: string }).name === 'cascade-other' && e.reason === 'SecretConflict'));
    // Freed: the next pass delivers.
    kube.remove('secrets', NS, 'cascade-other-gatehouse-client');
    expect((await readyCr('cascade-other')).status?.secretName).toBe('cascade-other-gatehouse-client');
    expect(await rotations('cascade-other')).toHaveLength(1);
  });

  it('never rotates a secret it could not store: a refused Secret write is Ready=False SecretFailed', async () => {
    const allow = kube.forbid('POST', /\/secrets$/);
    try {
      kube.create('clients', client('cascade-locked', 'cascade') as KubeObject);
      const cr = await readyCr('cascade-locked', 'False');
      expect(ready(cr)).toMatchObject({ reason: 'SecretFailed', message: expect.stringContaining('HTTP 403 Forbidden') });
      expect(ready(cr)!.message).toContain(`Secret ${NS}/cascade-locked-gatehouse-client`);
      const passes = controller.loop.passes;
      await eventually(() => controller.loop.passes >= passes + 2);
      expect(await rotations('cascade-locked')).toHaveLength(0);
    } finally {
      allow();
    }
    expect((await readyCr('cascade-locked')).status?.secretName).toBe('cascade-locked-gatehouse-client');
    expect(await introspectAs(decoded(await secretWithValue('cascade-locked-gatehouse-client')))).toBe(200);
    expect(await rotations('cascade-locked')).toHaveLength(1);
  });

  it('removes the Secret when a client turns public', async () => {
    const cr = kube.get('clients', NS, 'cascade-other')!;
    kube.update('clients', { ...cr, spec: { ...(cr.spec as object), type: 'spa' } });
    await eventually(() => kube.get('secrets', NS, 'cascade-other-gatehouse-client') === undefined);
    await eventually(() => {
      const o = kube.get('clients', NS, 'cascade-other');
      return ready(o)?.status === 'True' && o?.status?.secretName === undefined;
    });
  });

  it('lets the garbage collector take the Secret with a deleted Client resource', async () => {
    kube.remove('clients', NS, 'cascade-api');
    await eventually(() => kube.get('clients', NS, 'cascade-api') === undefined);
    expect(kube.get('secrets', NS, 'cascade-api-credentials')).toBeUndefined();
    expect(await admin.get('Client', NS, 'cascade-api')).toBeUndefined();
  });

  it('never puts a secret in status, events, the server’s status or audit, or the controller’s log', async () => {
    expect(seen.size).toBeGreaterThanOrEqual(4);
    const places = {
      crs: JSON.stringify(kube.list('clients')),
      events: JSON.stringify(kube.list('events')),
      server: JSON.stringify(await admin.list('Client', NS)),
      audit: JSON.stringify(await admin.request('GET', '/admin/v1/audit?limit=1000')),
      log: harness.lines.join('\n'),
    };
    for (const secret of seen) {
      for (const [place, text] of Object.entries(places)) expect({ place, leaked: text.includes(secret) }).toEqual({ place, leaked: false });
    }
  });

  it('reads only the Secrets it names: no list or watch of Secrets, and only verbs the RBAC grants', () => {
    const secretRequests = kube.requests.filter((r) => /\/secrets(\/|$|\?)/.test(r));
    expect(secretRequests.length).toBeGreaterThan(0);
    expect(secretRequests.filter((r) => /^GET [^?]*\/secrets(\?watch)?$/.test(r))).toEqual([]);
    const verbOf: Record<string, string> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    const used = new Set(secretRequests.map((r) => verbOf[r.split(' ')[0]!]!));
    const docs = parseAllDocuments(readFileSync('deploy/kustomize/rbac.yaml', 'utf8')).map((d) => d.toJS() as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] });
    const granted = new Set(
      docs
        .flatMap((d) => d.rules ?? [])
        .filter((r) => r.apiGroups.includes('') && r.resources.includes('secrets'))
        .flatMap((r) => r.verbs),
    );
    for (const verb of used) expect(granted).toContain(verb);
  });
});
