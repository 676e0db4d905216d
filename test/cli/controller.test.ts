import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

let gh: TestServer;
let dir: string;

beforeAll(async () => {
  gh = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-controller-cli-'));
  await cp('examples/blixit-partners', dir, { recursive: true });
});
afterAll(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse controller --dir --endpoint', () => {
  it('--once applies the folder to a remote server and exits 0', async () => {
    const run = await gatehouseInProcess(['controller', '--dir', dir, '--endpoint', gh.url, '--once'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(run.code).toBe(0);
    expect(run.output).toContain(`applied 19 objects from ${dir} (19 created, 0 updated, 0 unchanged)`);
    expect(run.output).not.toContain(gh.token);
  });

  it('converges with zero writes when run again', async () => {
    const run = await gatehouseInProcess(['controller', '--dir', dir, '--endpoint', gh.url, '--once'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(run.code).toBe(0);
    expect(run.output).toContain('(0 created, 0 updated, 19 unchanged)');
  });

  it('keeps running and applies an edit of the folder; with GATEHOUSE_METRICS_PORT, serves its reconcile metrics (the real binary, stopped by SIGTERM)', async () => {
    const run = gatehouse(['controller', '--dir', dir, '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_METRICS_PORT: '0' });
    try {
      const metricsUrl = (await run.waitFor(/metrics on (http:\/\/\S+)/))[1]!;
      await run.waitFor(/19 unchanged\)/);
      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).toMatch(/^gatehouse_reconcile_passes_total\{source="directory"\} [1-9]/m);
      expect(metrics).toMatch(/^gatehouse_reconcile_duration_seconds_count\{source="directory"\} [1-9]/m);
      expect(metrics).toContain('gatehouse_reconcile_errors_total');
      expect(metrics).toContain('process_resident_memory_bytes');
      const file = join(dir, 'cascade-consulting.yaml');
      await writeFile(file, (await readFile(file, 'utf8')).replace('accessToken: 30m', 'accessToken: 25m'));
      // A keyed pass reconciles the edited file's six objects; a full pass (when the watch cannot name the file) all nineteen.
      await run.waitFor(/\(0 created, 1 updated, (5|18) unchanged\)/, 5000);
      const org = await gh.admin('GET', '/admin/v1/namespaces/blixit-partners/organizations/cascade-consulting');
      expect(org.body.spec.tokens.accessToken).toBe('25m');
    } finally {
      expect(await run.stop()).toBe(0);
    }
  });

  it('--drift report (or GATEHOUSE_DRIFT=report) leaves a change made on the server and says so; the default puts it back', async () => {
    const path = '/admin/v1/namespaces/blixit-partners/organizations/forge-supplies';
    const current = (await gh.admin('GET', path)).body;
    expect((await gh.admin('PUT', path, { ...current, status: undefined, spec: { ...current.spec, displayName: 'Forge (edited by hand)' } })).status).toBe(200);
    const once = ['controller', '--dir', dir, '--endpoint', gh.url, '--once'];
    const flag = await gatehouseInProcess([...once, '--drift', 'report'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(flag.code).toBe(1);
    expect(flag.output).toContain('✗ forge-supplies.yaml (document 1): Organization blixit-partners/forge-supplies differs from its declaration in spec.displayName');
    expect(flag.output).toContain('(0 created, 0 updated, 18 unchanged, 1 drifted, left as changed on the server)');
    const env = await gatehouseInProcess(once, { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_DRIFT: 'report' });
    expect(env.output).toContain('1 drifted');
    expect((await gh.admin('GET', path)).body.spec.displayName).toBe('Forge (edited by hand)');
    const bad = await gatehouseInProcess([...once, '--drift', 'ignore'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(bad).toMatchObject({ code: 1, output: expect.stringContaining('GATEHOUSE_DRIFT must be correct or report, got "ignore"') });
    const corrected = await gatehouseInProcess(once, { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(corrected.code).toBe(0);
    expect(corrected.output).toContain('(0 created, 1 updated, 18 unchanged)');
    expect((await gh.admin('GET', path)).body.spec.displayName).toBe('Forge Supplies');
  });

  it('--once exits 1 and names the file and field when a declaration fails', async () => {
    await writeFile(join(dir, 'broken.yaml'), 'apiVersion: gatehouse.dev/v1alpha1\nkind: Client\nmetadata:\n  name: broken\n  namespace: blixit-partners\nspec:\n  type: m2m\n  organizationRef:\n    name: nobody\n');
    const run = await gatehouseInProcess(['controller', '--dir', dir, '--endpoint', gh.url, '--once'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(run.code).toBe(1);
    expect(run.output).toContain('✗ broken.yaml (document 1): Client blixit-partners/broken: spec.organizationRef.name: Organization "nobody" does not exist');
    expect(run.output).toContain('19 unchanged, 1 failed');
  });

  it('says what is missing without a token or a source', async () => {
    const noToken = await gatehouseInProcess(['controller', '--dir', dir, '--endpoint', gh.url], {});
    expect(noToken.code).toBe(1);
    expect(noToken.output).toContain('set GATEHOUSE_ADMIN_TOKEN');
    const noSource = await gatehouseInProcess(['controller', '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(noSource.code).toBe(1);
    expect(noSource.output).toContain('--dir PATH or --kubernetes');
  });
});
