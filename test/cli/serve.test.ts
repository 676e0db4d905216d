import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';

let dataDir: string;
let examples: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
  examples = join(dataDir, 'declarations');
  await cp('examples/blixit-partners', examples, { recursive: true });
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function listOrganizations(url: string, token: string) {
  const res = await fetch(`${url}/admin/v1/namespaces/blixit-partners/organizations`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { metadata: { name: string } }[] }).items.map((o) => o.metadata.name);
}

describe('gatehouse serve --dir', () => {
  let token: string;

  it('starts on the embedded store, loads the examples and prints a one-time admin token', async () => {
    const serve = gatehouse(['serve', '--dir', examples], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir });
    try {
      token = (await serve.waitFor(/admin token \(shown once; only its hash is kept\): (\S+)/))[1]!;
      const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      expect(serve.output()).toContain(`store: sqlite at ${join(dataDir, 'gatehouse.db')}`);
      expect(serve.output()).toMatch(/applied 19 objects from .* \(19 created, 0 updated, 0 unchanged\)/);
      expect(await listOrganizations(url, token)).toEqual(['cascade-consulting', 'forge-supplies', 'pinnacle-logistics']);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });

  it('after a restart keeps every object and the token, prints no token, and re-applying changes nothing', async () => {
    const serve = gatehouse(['serve', '--dir', examples], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir });
    try {
      const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      expect(serve.output()).toContain('admin token: kept from an earlier start');
      expect(serve.output()).not.toContain(token);
      expect(serve.output()).toMatch(/\(0 created, 0 updated, 19 unchanged\)/);
      expect(await listOrganizations(url, token)).toHaveLength(3);
      const verify = await fetch(`${url}/admin/v1/audit/verify`, { headers: { authorization: `Bearer ${token}` } });
      expect(await verify.json()).toMatchObject({ ok: true, records: 19 });
    } finally {
      await serve.stop();
    }
  });

  it('reports a broken declaration with its file and field, and still applies the rest', async () => {
    await writeFile(join(examples, 'broken.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Client\nmetadata:\n  name: broken\n  namespace: blixit-partners\nspec:\n  type: m2m\n  organizationRef:\n    name: nobody\n');
    const adminToken = 'env-token-abcdefghijklmnopqrstuvwxyz';
    const serve = gatehouse(['serve', '--dir', examples], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_ADMIN_TOKEN: adminToken });
    try {
      const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      expect(serve.output()).toContain('admin token: from GATEHOUSE_ADMIN_TOKEN');
      expect(serve.output()).not.toContain(adminToken);
      expect(serve.output()).toContain('✗ broken.yaml (document 1): Client blixit-partners/broken: spec.organizationRef.name: Organization "nobody" does not exist');
      expect(serve.output()).toMatch(/19 unchanged, 1 failed/);
      expect(await listOrganizations(url, adminToken)).toHaveLength(3);
      // The environment's token replaced the generated one.
      const old = await fetch(`${url}/admin/v1/organizations`, { headers: { authorization: `Bearer ${token}` } });
      expect(old.status).toBe(401);
    } finally {
      await serve.stop();
    }
  });

  it('keeps the folder applied while running: an edited file takes effect without a restart', async () => {
    const adminToken = 'env-token-abcdefghijklmnopqrstuvwxyz';
    const serve = gatehouse(['serve', '--dir', examples], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_ADMIN_TOKEN: adminToken });
    try {
      const url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      await rm(join(examples, 'broken.yaml'));
      await writeFile(join(examples, 'forge-supplies.yaml'), (await readFile(join(examples, 'forge-supplies.yaml'), 'utf8')).replace('displayName: Forge Supplies\n', 'displayName: Forge Supplies AB\n'));
      // A pass over the objects the edited file declares (keyed), or over all 18 when the watch
      // saw the removal and the edit as one change it could not map to keys: either way one update.
      await serve.waitFor(/\(0 created, 1 updated, (5|18) unchanged\)/, 5000);
      const res = await fetch(`${url}/admin/v1/namespaces/blixit-partners/organizations/forge-supplies`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(((await res.json()) as { spec: { displayName: string } }).spec.displayName).toBe('Forge Supplies AB');
      expect(serve.output()).not.toMatch(/gha_/);
    } finally {
      await serve.stop();
    }
  });

  it('refuses a short GATEHOUSE_ADMIN_TOKEN with a message that says what to do', async () => {
    const serve = await gatehouseInProcess(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_ADMIN_TOKEN: 'short' });
    expect(serve.code).toBe(1);
    expect(serve.output).toContain('GATEHOUSE_ADMIN_TOKEN is too short');
    expect(serve.output).not.toContain('short\n');
  });

  it('refuses a GATEHOUSE_TRUSTED_PROXIES entry that is not a CIDR block, naming it', async () => {
    const serve = await gatehouseInProcess(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_TRUSTED_PROXIES: '10.0.0.0/8, lb.internal' });
    expect(serve.code).toBe(1);
    expect(serve.output).toContain('GATEHOUSE_TRUSTED_PROXIES: "lb.internal" is not a CIDR block such as "10.0.0.0/8"');
  });

  it('refuses an invalid observability setting, naming it (cli/config.ts checks each)', async () => {
    const serve = await gatehouseInProcess(['serve'], { PORT: '0', GATEHOUSE_DATA_DIR: dataDir, OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(serve.code).toBe(1);
    expect(serve.output).toContain('OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://otel-collector:4318');
  });
});

describe('gatehouse', () => {
  it('explains an unknown command', async () => {
    const run = await gatehouseInProcess(['frobnicate'], {});
    expect(run.code).toBe(2);
    expect(run.output).toContain('unknown command "frobnicate"');
  });
});
