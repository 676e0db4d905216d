import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AdminClient } from '../../client/admin-client.ts';
import type { Plan } from '../../controller/plan.ts';
import { Reconciler } from '../../controller/reconciler.ts';
import { DirectorySource } from '../../controller/sources/directory.ts';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';
import { accessPolicy, claimMapping, client, idp, organization, template } from '../support/objects.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { temporaryDirectories } from '../support/temp-dirs.ts';

let gh: TestServer;
let admin: AdminClient;
const tempDir = temporaryDirectories('gatehouse-plan-');

beforeAll(async () => {
  gh = await startTestServer();
  admin = new AdminClient({ endpoint: gh.url, token: gh.token });
});
afterAll(async () => {
  await gh.close();
});

type Declaration = { metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec: object };

/** Forge Supplies as a partner team declares it: one file per object, all in the scenario's own namespace. */
const forge = () => ({
  'forge.yaml': organization('forge', { tokens: { accessToken: '30m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2099-12-31T23:59:59Z' } }),
  'forge-portal.yaml': client('forge-portal', 'forge'),
  'forge-api.yaml': accessPolicy('forge-api', 'forge', { scopes: [{ scope: 'orders:read' }] }),
  'forge-claims.yaml': claimMapping('forge-claims', 'forge'),
  'forge-sso.yaml': idp('forge-sso', 'forge'),
});

let scenarios = 0;

let rested = 0;
/**
 * Dates `paths` back: the folder is at rest, as it is when someone runs plan after saving. A read
 * believes a tree only once it has been still for 250 ms (controller/sources/directory.ts,
 * specified in test/controller/sources/directory-watch.test.ts); files written the moment before
 * would make each read of this spec wait that out (half the file's time). Each call goes one more
 * second back, so an edit of the same size never carries the modification time git recorded for
 * the file (git would take it as unchanged and `commit -a` would commit nothing).
 */
async function atRest(...paths: string[]): Promise<void> {
  const past = Date.now() / 1000 - 2 - rested++;
  for (const path of paths) await utimes(path, past, past);
}

/**
 * A git checkout holding `files` (committed), applied to the live server by the controller's own
 * reconciler with the owner `gatehouse controller --dir` uses; each scenario has its own namespace.
 */
async function appliedRepo(files: Record<string, Declaration> = forge()) {
  const dir = await tempDir();
  const namespace = `plan-${++scenarios}`;
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Maria Jensen', '-c', 'user.email=maria@blixit.example', ...args], { cwd: dir }).toString();
  const write = async (file: string, object: Declaration) => {
    await writeFile(join(dir, file), stringify({ ...object, metadata: { ...object.metadata, namespace } }));
    await atRest(join(dir, file), dir);
  };
  git('init', '-q', '-b', 'main');
  for (const [file, object] of Object.entries(files)) await write(file, object);
  git('add', '.');
  git('commit', '-q', '-m', 'Forge Supplies');
  const source = new DirectorySource({ dir });
  const report = await new Reconciler({ client: admin, owner: `directory:${source.dir}`, source: 'git' }).reconcile(await source.read());
  expect(report.failed).toBe(0);
  git('checkout', '-q', '-b', 'change');
  return {
    dir,
    namespace,
    write,
    remove: async (file: string) => {
      await rm(join(dir, file));
      await atRest(dir);
    },
    commit: (message: string) => git('commit', '-q', '-am', message),
    /** `gatehouse plan --dir` in-process; `json` is the parsed plan when asked for with --format json. */
    plan: async (...args: string[]) => {
      const result = await gatehouseInProcess(['plan', '--dir', dir, ...args], { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_ENDPOINT: gh.url });
      return { ...result, json: args.includes('json') ? (JSON.parse(result.stdout) as Plan) : undefined };
    },
  };
}

const auditHead = async () => (await gh.store.audit.head())?.seq ?? 0;
const entry = (plan: Plan, kind: string, name: string) => plan.objects.find((o) => o.kind === kind && o.name === name);

describe('gatehouse plan: what a merge would change, per object', () => {
  it('nothing changed: every object unchanged, exit 0', async () => {
    const repo = await appliedRepo();
    const { code, json, stderr } = await repo.plan('--format', 'json');
    expect(code).toBe(0);
    expect(json!.changed).toBe(false);
    expect(json!.summary).toEqual({ create: 0, update: 0, delete: 0, unchanged: 5, error: 0 });
    expect(json!.objects.every((o) => o.action === 'unchanged' && o.changes.length === 0)).toBe(true);
    expect(stderr).toContain('plan: no changes; the server matches the declarations');
  });

  it('server-side defaults never show as changes (no flapping): a declaration omitting them is unchanged', async () => {
    // The server fills in suspended: false, claim tokens: [access, id], requireMfa/requireApproval: false, …
    const repo = await appliedRepo();
    const stored = await admin.get('AccessPolicy', repo.namespace, 'forge-api');
    expect(stored!.spec).toMatchObject({ scopes: [{ scope: 'orders:read', requireMfa: false, requireApproval: false }] });
    const { json } = await repo.plan('--format', 'json');
    expect(entry(json!, 'AccessPolicy', 'forge-api')).toMatchObject({ action: 'unchanged' });
    expect(entry(json!, 'Organization', 'forge')).toMatchObject({ action: 'unchanged' });
  });

  it('a new object is a create listing its declared fields; nothing is written or audited; exit 2', async () => {
    const repo = await appliedRepo();
    await repo.write('harbor.yaml', organization('harbor'));
    const before = await auditHead();
    const { code, json } = await repo.plan('--format', 'json');
    expect(code).toBe(2);
    expect(entry(json!, 'Organization', 'harbor')).toMatchObject({ action: 'create', file: 'harbor.yaml', changes: expect.arrayContaining([{ path: 'spec.displayName', after: 'harbor' }]) });
    expect(json!.summary).toMatchObject({ create: 1, unchanged: 5 });
    expect(await admin.get('Organization', repo.namespace, 'harbor')).toBeUndefined();
    expect(await auditHead()).toBe(before);
  });

  it('a field edit is an update showing only that field, before and after', async () => {
    const repo = await appliedRepo();
    await repo.write('forge.yaml', organization('forge', { tokens: { accessToken: '20m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2099-12-31T23:59:59Z' } }));
    repo.commit('Shorter access tokens for Forge');
    const { code, json } = await repo.plan('--format', 'json');
    expect(code).toBe(2);
    expect(entry(json!, 'Organization', 'forge')).toEqual({ kind: 'Organization', namespace: repo.namespace, name: 'forge', action: 'update', file: 'forge.yaml', document: 1, changes: [{ path: 'spec.tokens.accessToken', before: '30m', after: '20m' }] });
    expect(json!.consequences).toEqual({ tokensRevoked: [], scopes: [], claims: [], approvals: [] });
    const text = await repo.plan();
    expect(text.stdout).toContain(`~ update    Organization ${repo.namespace}/forge  (forge.yaml)\n      spec.tokens.accessToken: "30m" → "20m"`);
    expect(json!.summary.error).toBe(0);
  });

  it('an object no longer declared is a delete, with the tokens its removal revokes; what the controller did not create is left out', async () => {
    const repo = await appliedRepo();
    // Someone else's object in the same namespace: runtime state, not this controller's to delete.
    await gh.admin('PUT', `/admin/v1/namespaces/${repo.namespace}/clients/ops-console`, { ...client('ops-console', 'forge'), metadata: { name: 'ops-console', namespace: repo.namespace } });
    await repo.remove('forge-portal.yaml');
    await repo.remove('forge-sso.yaml');
    const { code, json } = await repo.plan('--format', 'json');
    expect(code).toBe(2);
    expect(entry(json!, 'Client', 'forge-portal')).toEqual({ kind: 'Client', namespace: repo.namespace, name: 'forge-portal', action: 'delete', changes: [] });
    expect(entry(json!, 'IdPConnection', 'forge-sso')).toMatchObject({ action: 'delete' });
    expect(entry(json!, 'Client', 'ops-console')).toBeUndefined();
    expect(json!.consequences.tokensRevoked).toEqual(
      expect.arrayContaining([
        { kind: 'Client', namespace: repo.namespace, name: 'forge-portal', organization: 'forge', reason: 'client-deleted', message: 'Client forge-portal is deleted: every token issued to it ends' },
        expect.objectContaining({ kind: 'IdPConnection', name: 'forge-sso', reason: 'idp-connection-deleted' }),
      ]),
    );
    expect(await admin.get('Client', repo.namespace, 'forge-portal')).toBeDefined();
  });

  it('a delete the server would refuse (still referenced by what stays) is an error, exit 1', async () => {
    const repo = await appliedRepo();
    await repo.remove('forge.yaml');
    const { code, json } = await repo.plan('--format', 'json');
    expect(code).toBe(1);
    expect(entry(json!, 'Organization', 'forge')).toMatchObject({ action: 'error', error: { message: expect.stringContaining(`cannot be deleted: still referenced by IdPConnection ${repo.namespace}/forge-sso, Client ${repo.namespace}/forge-portal`) } });
  });
});

describe('gatehouse plan: the consequences an auditor asks about', () => {
  it('the kill switch turned on: every token of the organization and its sub-organizations is revoked', async () => {
    const repo = await appliedRepo({ ...forge(), 'forge-east.yaml': organization('forge-east', { parentRef: { name: 'forge' } }) });
    await repo.write('forge.yaml', organization('forge', { suspended: true, tokens: { accessToken: '30m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2099-12-31T23:59:59Z' } }));
    const { json, stdout } = await (async () => ({ json: (await repo.plan('--format', 'json')).json, stdout: (await repo.plan()).stdout }))();
    expect(json!.consequences.tokensRevoked).toEqual([{ kind: 'Organization', namespace: repo.namespace, name: 'forge', organization: 'forge', reason: 'kill-switch', message: 'kill switch turned on for Organization forge and its sub-organizations forge-east: every token, grant and session ends at once' }]);
    expect(stdout).toContain('Tokens revoked:\n  - kill switch turned on for Organization forge');
    // Planned, not pulled.
    expect((await admin.get('Organization', repo.namespace, 'forge'))!.spec).toMatchObject({ suspended: false });
  });

  it('a contract shortened: no token outlives the new end; one ending in the past ends every token now', async () => {
    const repo = await appliedRepo();
    const contract = (endsAt: string) => ({ tokens: { accessToken: '30m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt } });
    await repo.write('forge.yaml', organization('forge', contract('2098-06-30T00:00:00Z')));
    expect((await repo.plan('--format', 'json')).json!.consequences.tokensRevoked).toEqual([expect.objectContaining({ reason: 'contract-shortened', message: 'contract of Organization forge now ends at 2098-06-30T00:00:00Z (was 2099-12-31T23:59:59Z): no token or refresh outlives that date' })]);
    await repo.write('forge.yaml', organization('forge', contract('2020-01-31T00:00:00Z')));
    expect((await repo.plan('--format', 'json')).json!.consequences.tokensRevoked).toEqual([expect.objectContaining({ reason: 'contract-ended' })]);
    // Extending a contract revokes nothing.
    await repo.write('forge.yaml', organization('forge', contract('2100-01-31T00:00:00Z')));
    expect((await repo.plan('--format', 'json')).json!.consequences.tokensRevoked).toEqual([]);
  });

  it('scopes gained and lost per organization', async () => {
    const repo = await appliedRepo();
    await repo.write('forge-api.yaml', accessPolicy('forge-api', 'forge', { scopes: [{ scope: 'orders:write' }] }));
    const { json } = await repo.plan('--format', 'json');
    expect(json!.consequences.scopes).toEqual([{ namespace: repo.namespace, organization: 'forge', gained: ['orders:write'], lost: ['orders:read'] }]);
    expect((await repo.plan()).stdout).toContain(`Scopes per organization:\n  - ${repo.namespace}/forge: + orders:write, - orders:read`);
  });

  it('claims added and removed', async () => {
    const repo = await appliedRepo();
    await repo.write('forge-claims.yaml', claimMapping('forge-claims', 'forge', { claims: [{ name: 'contract_ref', from: 'contract.id' }] }));
    const { json } = await repo.plan('--format', 'json');
    expect(json!.consequences.claims).toEqual([{ namespace: repo.namespace, organization: 'forge', added: ['contract_ref'], removed: ['partner_type'] }]);
  });

  it('claims a template adds count for every organization using it', async () => {
    const repo = await appliedRepo({
      'standard.yaml': template('standard', { claims: [{ name: 'tier', value: 'gold' }] }),
      'forge.yaml': organization('forge', { templateRef: { name: 'standard' } }),
      'keel.yaml': organization('keel', { templateRef: { name: 'standard' } }),
    });
    await repo.write(
      'standard.yaml',
      template('standard', {
        claims: [
          { name: 'tier', value: 'gold' },
          { name: 'region', value: 'eu' },
        ],
      }),
    );
    const { json } = await repo.plan('--format', 'json');
    expect(json!.consequences.claims).toEqual([
      { namespace: repo.namespace, organization: 'forge', added: ['region'], removed: [] },
      { namespace: repo.namespace, organization: 'keel', added: ['region'], removed: [] },
    ]);
  });

  it('approvals needed: a scope newly gated by requireApproval', async () => {
    const repo = await appliedRepo();
    await repo.write('forge-api.yaml', accessPolicy('forge-api', 'forge', { scopes: [{ scope: 'orders:read', requireApproval: true }, { scope: 'invoices:read' }], approvers: { roles: ['organization-admin'] } }));
    const { json, code } = await repo.plan('--format', 'json');
    expect(code).toBe(2);
    expect(json!.consequences.approvals).toEqual([{ namespace: repo.namespace, organization: 'forge', scope: 'orders:read' }]);
    expect(entry(json!, 'AccessPolicy', 'forge-api')!.changes).toEqual([
      { path: 'spec.approvers', after: { roles: ['organization-admin'] } },
      {
        path: 'spec.scopes',
        before: [{ scope: 'orders:read', requireMfa: false, requireApproval: false }],
        after: [
          { scope: 'orders:read', requireMfa: false, requireApproval: true },
          { scope: 'invoices:read', requireMfa: false, requireApproval: false },
        ],
      },
    ]);
  });
});

describe('gatehouse plan: errors the merge would hit', () => {
  it("the server's admission refuses a change (a vanity domain another organization holds): error naming the field, exit 1", async () => {
    const taken = await appliedRepo({ 'harbor.yaml': organization('harbor', { domains: ['id.harbor.example'] }) });
    const repo = await appliedRepo();
    await repo.write('forge.yaml', organization('forge', { domains: ['id.harbor.example'], tokens: { accessToken: '30m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2099-12-31T23:59:59Z' } }));
    const { code, json, stderr } = await repo.plan('--format', 'json');
    expect(code).toBe(1);
    expect(entry(json!, 'Organization', 'forge')).toMatchObject({
      action: 'error',
      error: { errors: [{ path: 'spec.domains[0]', message: `"id.harbor.example" is already a vanity domain of Organization ${taken.namespace}/harbor` }] },
    });
    expect(stderr).toContain('plan: fix the errors above (each names its file and field), then plan again');
  });

  it('a reference to an object the same change creates is no error; a dangling one is', async () => {
    const repo = await appliedRepo();
    await repo.write('harbor.yaml', organization('harbor'));
    await repo.write('harbor-portal.yaml', client('harbor-portal', 'harbor'));
    await repo.write('orphan.yaml', client('orphan', 'no-such-org'));
    const { code, json } = await repo.plan('--format', 'json');
    expect(code).toBe(1);
    expect(entry(json!, 'Client', 'harbor-portal')).toMatchObject({ action: 'create' });
    expect(entry(json!, 'Client', 'orphan')).toMatchObject({ action: 'error', file: 'orphan.yaml', error: { errors: [{ path: 'spec.organizationRef.name', message: `Organization "no-such-org" does not exist in namespace ${repo.namespace}` }] } });
  });

  it('a declaration the schema refuses is an error naming file and field', async () => {
    const repo = await appliedRepo();
    await repo.write('forge-portal.yaml', client('forge-portal', 'forge', { type: 'browser' }));
    const { code, stdout } = await repo.plan();
    expect(code).toBe(1);
    expect(stdout).toMatch(/! error +Client plan-\d+\/forge-portal {2}\(forge-portal\.yaml\)\n {6}.*spec\.type/);
  });

  it('objects another controller manages are errors that say which --owner to plan with', async () => {
    const repo = await appliedRepo();
    const { code, json } = await repo.plan('--format', 'json', '--owner', 'kubernetes:gatehouse-controller');
    expect(code).toBe(1);
    expect(entry(json!, 'Organization', 'forge')!.error!.message).toContain(`plan again with --owner 'directory:${repo.dir}'`);
  });

  it('an unreachable server, a missing token or a missing --dir: exit 1 with what to do', async () => {
    const repo = await appliedRepo({ 'harbor.yaml': organization('harbor') });
    const down = await gatehouseInProcess(['plan', '--dir', repo.dir, '--endpoint', 'http://127.0.0.1:9'], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the Gatehouse admin API at http://127.0.0.1:9');
    expect(down.stderr).toContain('check that http://127.0.0.1:9 is the Gatehouse server and that it is up, then plan again');
    const missing = await gatehouseInProcess(['plan', '--dir', join(repo.dir, 'nope'), '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining(`check that --dir ${join(repo.dir, 'nope')} is the folder of declarations`) });
    const noToken = await gatehouseInProcess(['plan', '--dir', repo.dir, '--endpoint', gh.url], {});
    expect(noToken).toMatchObject({ code: 1, stderr: expect.stringContaining('GATEHOUSE_ADMIN_TOKEN is not set: set GATEHOUSE_ADMIN_TOKEN') });
    const wrongToken = await gatehouseInProcess(['plan', '--dir', repo.dir, '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: 'not-the-admin-token-0123456789' });
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toContain('the admin token is not valid');
    expect(wrongToken.stderr).toContain('set GATEHOUSE_ADMIN_TOKEN to an admin token of this server');
    expect(wrongToken.output).not.toContain('not-the-admin-token-0123456789');
    const noDir = await gatehouseInProcess(['plan', '--endpoint', gh.url], { GATEHOUSE_ADMIN_TOKEN: gh.token });
    expect(noDir).toMatchObject({ code: 1, stderr: expect.stringContaining('give the declarations with --dir PATH') });
    const badFormat = await repo.plan('--format', 'yaml');
    expect(badFormat).toMatchObject({ code: 1, stderr: expect.stringContaining('--format must be one of text, md, json, got "yaml"') });
  });
});

describe('gatehouse plan: output', () => {
  it('never prints a secret value: a secret-looking field shows as (changed)', async () => {
    const secretValue = 'sk-forge-8d1f0a9c33';
    const repo = await appliedRepo({ 'forge.yaml': { ...organization('forge'), metadata: { name: 'forge', annotations: { 'vendor.example/api-token': 'sk-old-0000' } } } });
    await repo.write('forge.yaml', { ...organization('forge'), metadata: { name: 'forge', annotations: { 'vendor.example/api-token': secretValue } } });
    for (const format of ['text', 'md', 'json']) {
      const { code, output } = await repo.plan('--format', format);
      expect(code).toBe(2);
      expect(output).not.toContain(secretValue);
      expect(output).not.toContain('sk-old-0000');
    }
    expect(entry((await repo.plan('--format', 'json')).json!, 'Organization', 'forge')!.changes).toEqual([{ path: 'metadata.annotations.vendor.example/api-token', secret: true }]);
    expect((await repo.plan()).stdout).toContain('metadata.annotations.vendor.example/api-token: (changed)');
  });

  it('--format md is a pull-request comment: a summary heading, a table of changes, the consequences and the field diff', async () => {
    const repo = await appliedRepo();
    await repo.write('forge.yaml', organization('forge', { suspended: true, tokens: { accessToken: '30m' }, contract: { id: 'C-forge', partnerType: 'supplier', owner: 'owner@blixit.example', endsAt: '2099-12-31T23:59:59Z' } }));
    await repo.remove('forge-portal.yaml');
    const { stdout, code } = await repo.plan('--format', 'md');
    expect(code).toBe(2);
    expect(stdout).toContain('### Gatehouse plan: 0 to create, 1 to update, 1 to delete, 3 unchanged\n');
    expect(stdout).toContain(`| ~ update | \`Organization ${repo.namespace}/forge\` | \`forge.yaml\` |`);
    expect(stdout).toContain(`| - delete | \`Client ${repo.namespace}/forge-portal\` |  |`);
    expect(stdout).toContain('#### Tokens revoked\n\n- kill switch turned on for Organization forge');
    expect(stdout).toContain('<details><summary>Field changes</summary>\n\n```diff\n~ Organization');
    expect(stdout).toContain('    spec.suspended: false → true');
  });

  it('is in the help, with its exit codes and the variables it reads', async () => {
    const overview = await gatehouseInProcess(['help'], {});
    expect(overview.stdout).toMatch(/^ {2}plan --dir PATH +what applying a folder of YAML would change/m);
    for (const args of [
      ['help', 'plan'],
      ['plan', '--help'],
    ]) {
      const { code, stdout } = await gatehouseInProcess(args, {});
      expect(code).toBe(0);
      expect(stdout).toContain('Exit status: 0 nothing would change, 2 something would change, 1 an error');
      expect(stdout).toMatch(/^ {2}GATEHOUSE_ADMIN_TOKEN /m);
      expect(stdout).toMatch(/^ {2}GATEHOUSE_ENDPOINT /m);
    }
  });

  it('--format json has the documented, versioned shape', async () => {
    const repo = await appliedRepo();
    const { json } = await repo.plan('--format', 'json');
    expect(Object.keys(json!).sort()).toEqual(['changed', 'consequences', 'dir', 'endpoint', 'formatVersion', 'objects', 'owner', 'problems', 'summary']);
    expect(json).toMatchObject({ formatVersion: 1, endpoint: gh.url, dir: repo.dir, owner: `directory:${repo.dir}`, problems: [] });
  });

  it('the binary runs it: plan to stdout, progress to stderr, exit 2 on changes', async () => {
    const repo = await appliedRepo();
    await repo.write('harbor.yaml', organization('harbor'));
    const run = gatehouse(['plan', '--dir', repo.dir], { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_ENDPOINT: gh.url });
    expect(await run.exit()).toBe(2);
    expect(run.output()).toContain(`+ create    Organization ${repo.namespace}/harbor  (harbor.yaml)`);
    expect(run.output()).toContain('Plan: 1 to create, 0 to update, 0 to delete, 5 unchanged.');
  });
});
