import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../server/store/index.ts';
import { gatehouseInProcess } from '../support/cli.ts';
import { pollUntil } from '../support/eventually.ts';
import { gatehouse } from '../support/process.ts';

// The real `gatehouse serve` process, as an orchestrator sees it: /readyz, /healthz, SIGTERM.
const TOKEN = 'lifecycle-admin-token-0123456789abcdef';
const NS = 'blixit-partners';
const EXTRA = 40; // more organizations than the examples', so the first pass lasts long enough to be seen

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-lifecycle-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `gatehouse audit verify` on the stopped server's store (the chain is keyed from its secret.key). */
async function expectIntactChain(dataDir: string) {
  // In-process: the signals are what this file needs real processes for.
  const verify = await gatehouseInProcess(['audit', 'verify'], { GATEHOUSE_DATA_DIR: dataDir });
  expect(verify).toMatchObject({ code: 0, output: expect.stringMatching(/audit chain intact: \d+ records/) });
}

function organization(name: string) {
  return { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Organization', metadata: { name, namespace: NS }, spec: { displayName: `Partner ${name}` } };
}

/** A request whose body is sent in two halves, so it is in flight for as long as the test likes. */
function slowPut(url: string, path: string, body: string) {
  const req = request(`${url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
  });
  response.catch(() => undefined);
  const half = Math.floor(body.length / 2);
  req.write(body.slice(0, half));
  return { response, finish: () => req.end(body.slice(half)) };
}

describe('gatehouse serve: readiness', () => {
  it('answers /readyz 503, naming what it waits for, until every declared issuer answers; /healthz is 200 throughout', async () => {
    const dir = join(root, 'declarations');
    await cp('examples/blixit-partners', dir, { recursive: true });
    const extra = Array.from({ length: EXTRA }, (_, i) => `partner-${String(i).padStart(2, '0')}`);
    await writeFile(join(dir, 'extra.yaml'), extra.map((name) => JSON.stringify(organization(name))).join('\n---\n'));
    const serve = gatehouse(['serve', '--dir', dir], { PORT: '0', GATEHOUSE_DATA_DIR: join(root, 'ready-data'), GATEHOUSE_ADMIN_TOKEN: TOKEN });
    try {
      const url = (await serve.waitFor(/readiness: (http:\/\/127\.0\.0\.1:\d+)\/readyz answers 503/))[1]!;
      const statuses: number[] = [];
      for (;;) {
        const ready = await fetch(`${url}/readyz`);
        statuses.push(ready.status);
        if (ready.status === 200) {
          expect(await ready.json()).toEqual({ status: 'ready', store: 'sqlite' });
          break;
        }
        expect(ready.status).toBe(503);
        expect(await ready.json()).toEqual({ status: 'not ready', waitingFor: [{ name: 'declarations', what: `the declarations under ${dir} applied once` }] });
        expect((await fetch(`${url}/healthz`)).status).toBe(200);
      }
      expect(statuses[0]).toBe(503);
      // Ready means ready: every declared organization's issuer answers at once.
      for (const org of ['cascade-consulting', 'forge-supplies', 'pinnacle-logistics', ...extra]) {
        const discovery = await fetch(`${url}/${NS}/${org}/.well-known/openid-configuration`);
        expect({ org, status: discovery.status }).toEqual({ org, status: 200 });
      }
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});

describe('gatehouse serve: SIGTERM', () => {
  it('stops accepting connections, lets a request in flight finish, writes its audit record, and exits 0', async () => {
    const dataDir = join(root, 'drain-data');
    const serve = gatehouse(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_ADMIN_TOKEN: TOKEN, GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '15' });
    const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const workspace = { apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Workspace', metadata: { name: NS, namespace: NS }, spec: {} };
    expect((await fetch(`${url}/admin/v1/namespaces/${NS}/workspaces/${NS}`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(workspace) })).status).toBeLessThan(300);

    const slow = slowPut(url, `/admin/v1/namespaces/${NS}/organizations/late-partner`, JSON.stringify(organization('late-partner')));
    await sleep(300);
    serve.child.kill('SIGTERM');
    await serve.waitFor(/SIGTERM: stopping/);
    // No new connections while draining: the listener closes as the stop begins (a server that
    // kept accepting fails here after 5 s).
    await pollUntil(
      () =>
        fetch(`${url}/healthz`).then(
          () => false,
          () => true,
        ),
      5000,
      () => serve.output(),
    );
    expect(serve.child.exitCode).toBeNull();
    slow.finish();
    const answer = await slow.response;
    expect(answer.status).toBe(201);
    expect(await serve.exit()).toBe(0);
    expect(serve.output()).toContain('stopped: requests in flight finished, audit records written, store closed');

    const store = await openStore({ dataDir });
    try {
      const records = [];
      for await (const record of store.audit.walk()) records.push(record);
      expect(JSON.stringify(records.at(-1))).toContain('late-partner');
    } finally {
      await store.close();
    }
    await expectIntactChain(dataDir);
  });

  it('stops in order when the signal comes during start-up, before the declarations are applied', async () => {
    const dir = join(root, 'declarations');
    const serve = gatehouse(['serve', '--dir', dir], { PORT: '0', GATEHOUSE_DATA_DIR: join(root, 'early-data'), GATEHOUSE_ADMIN_TOKEN: TOKEN });
    await serve.waitFor(/readiness: .*answers 503/);
    serve.child.kill('SIGTERM');
    expect(await serve.exit()).toBe(0);
    expect(serve.output()).toMatch(/SIGTERM: stopping[^]*stopped: requests in flight finished, audit records written, store closed/);
    await expectIntactChain(join(root, 'early-data'));
  });

  it('cuts a request that outlasts GATEHOUSE_SHUTDOWN_GRACE_SECONDS and still exits 0, within the bound', async () => {
    const serve = gatehouse(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: join(root, 'grace-data'), GATEHOUSE_ADMIN_TOKEN: TOKEN, GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '1' });
    const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    const stuck = slowPut(url, `/admin/v1/namespaces/${NS}/organizations/never-finished`, JSON.stringify(organization('never-finished')));
    await sleep(300);
    const started = Date.now();
    serve.child.kill('SIGTERM');
    await expect(stuck.response).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(await serve.exit()).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('refuses a GATEHOUSE_SHUTDOWN_GRACE_SECONDS that is not a number of seconds, naming it', async () => {
    const serve = await gatehouseInProcess(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: join(root, 'grace-data'), GATEHOUSE_SHUTDOWN_GRACE_SECONDS: 'soon' });
    expect(serve.code).toBe(1);
    expect(serve.output).toContain('GATEHOUSE_SHUTDOWN_GRACE_SECONDS must be a number of seconds, got "soon"');
  });
});
