import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';
import { NS, accessPolicy, claimMapping, client, idp, organization, template, user, workspace } from '../support/objects.ts';
import { startTestServer } from '../support/server.ts';
import { attestationMarkdown, buildAttestation, type Attestation } from '../../cli/attestation.ts';
import { readManifests } from '../../controller/sources/manifest-files.ts';
import { openStore } from '../../server/store/index.ts';
import { CALLBACK, setPassword, signIn } from '../support/sign-in.ts';

/**
 * `gatehouse attest` reads a git checkout of declarations and, when given the server's
 * store, its audit log. The repository here is built commit by commit with known authors
 * and dates, so every "who declared this, when" in the report can be checked exactly.
 */

const git = promisify(execFile);
const NOW = '2026-11-23T09:00:00Z';
const PASSWORD = 'correct horse battery staple';

let root: string;
let repo: string;
let dataDir: string;
let erasedId = '';
let clientSecret: string;
let invitedId: string;
const commits: Record<string, { hash: string; author: string; email: string; date: string }> = {};

const pinnacleContract = (certifiedAt: string) => ({ id: 'BLX-2026-031', partnerType: 'supplier', owner: 'li.wong@blixit.example', startsAt: '2026-03-01T00:00:00Z', endsAt: '2027-12-31T23:59:59Z', certifiedAt });
const declarations = {
  'workspace.yaml': workspace({ lifecycle: { reviewPeriod: '90d', inactiveUserAfter: '60d' } }),
  // Ended 2026-06-30 and never suspended; certified in February, so overdue by May.
  'organizations/cascade.yaml': organization('cascade', {
    displayName: 'Cascade Consulting',
    contract: { id: 'BLX-2026-014', partnerType: 'consultant', owner: 'maria.jensen@blixit.example', startsAt: '2026-01-01T00:00:00Z', endsAt: '2026-06-30T23:59:59Z', certifiedAt: '2026-02-01T00:00:00Z' },
  }),
  // No contract at all: nobody owns the relationship.
  'organizations/forge.yaml': { ...organization('forge', { displayName: 'Forge Supplies' }), spec: { displayName: 'Forge Supplies', emailDomains: ['forge.example'] } },
  'organizations/pinnacle.yaml': organization('pinnacle', { displayName: 'Pinnacle Logistics', contract: pinnacleContract('2026-08-01T00:00:00Z') }),
  'clients/cascade-web.yaml': client('cascade-web', 'cascade', { displayName: 'Timesheets', redirectUris: [CALLBACK], scopes: ['openid', 'email'], audiences: ['https://timesheets.blixit.example'] }),
  'claims/cascade-claims.yaml': claimMapping('cascade-claims', 'cascade', { claims: [{ name: 'partner_type', from: 'contract.partnerType', tokens: ['access'] }] }),
  'idps/cascade-directory.yaml': idp('cascade-directory', 'cascade', { type: 'directory', oidc: undefined }),
  'idps/pinnacle-oidc.yaml': idp('pinnacle-oidc', 'pinnacle', { oidc: { issuer: 'https://login.pinnacle.example', clientId: 'gatehouse', clientSecretRef: { name: 'pinnacle-oidc', key: 'secret' } } }),
  'users/ana.yaml': user('ana', 'cascade', { email: 'ana@cascade.example', roles: ['organization-admin'] }),
};
type File = keyof typeof declarations;

/** Who commits what, when: one author per declaration step. */
const history: { key: string; files: File[]; author: string; email: string; date: string; message: string }[] = [
  { key: 'workspace', files: ['workspace.yaml'], author: 'Alice Platform', email: 'alice@blixit.example', date: '2026-01-05T10:00:00+00:00', message: 'Workspace with a 90-day review period' },
  { key: 'cascade', files: ['organizations/cascade.yaml'], author: 'Bob Partners', email: 'bob@blixit.example', date: '2026-01-10T11:00:00+00:00', message: 'Onboard Cascade Consulting' },
  { key: 'orgs', files: ['organizations/forge.yaml', 'organizations/pinnacle.yaml'], author: 'Carol Sourcing', email: 'carol@blixit.example', date: '2026-01-12T12:00:00+00:00', message: 'Onboard Forge and Pinnacle' },
  { key: 'client', files: ['clients/cascade-web.yaml'], author: 'Dave Apps', email: 'dave@blixit.example', date: '2026-02-01T09:30:00+00:00', message: 'Timesheets for Cascade' },
  { key: 'claims', files: ['claims/cascade-claims.yaml'], author: 'Erin Claims', email: 'erin@blixit.example', date: '2026-02-03T14:00:00+00:00', message: 'partner_type claim' },
  { key: 'idps', files: ['idps/cascade-directory.yaml', 'idps/pinnacle-oidc.yaml'], author: 'Frank Federation', email: 'frank@blixit.example', date: '2026-02-05T08:15:00+00:00', message: 'Identity providers' },
  { key: 'admin', files: ['users/ana.yaml'], author: 'Grace Security', email: 'grace@blixit.example', date: '2026-02-07T16:45:00+00:00', message: 'Ana administers Cascade' },
];

async function commit(step: (typeof history)[number]): Promise<void> {
  for (const file of step.files) {
    await mkdir(dirname(join(repo, file)), { recursive: true });
    await writeFile(join(repo, file), stringify(declarations[file]));
  }
  const env = { ...process.env, GIT_AUTHOR_NAME: step.author, GIT_AUTHOR_EMAIL: step.email, GIT_COMMITTER_NAME: step.author, GIT_COMMITTER_EMAIL: step.email, GIT_AUTHOR_DATE: step.date, GIT_COMMITTER_DATE: step.date };
  await git('git', ['-C', repo, 'add', '-A'], { env });
  await git('git', ['-C', repo, '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', step.message], { env });
  const hash = (await git('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout.trim();
  commits[step.key] = { hash, author: step.author, email: step.email, date: step.date };
}

async function attest(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return gatehouseInProcess(['attest', '--dir', repo, '--now', NOW, ...args], env);
}

/** A commit as the report gives it (git's strict ISO 8601 author date). */
const by = (key: string) => ({ commit: commits[key]!.hash, author: commits[key]!.author, email: commits[key]!.email, date: commits[key]!.date });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-attest-'));
  repo = join(root, 'declarations');
  await mkdir(repo);
  await git('git', ['-C', repo, 'init', '-q', '-b', 'main']);
  for (const step of history) await commit(step);
  // Pinnacle's owner re-certifies it in November: a later commit by someone else.
  declarations['organizations/pinnacle.yaml'] = organization('pinnacle', { displayName: 'Pinnacle Logistics', contract: pinnacleContract('2026-11-01T00:00:00Z') });
  await commit({ key: 'recertify', files: ['organizations/pinnacle.yaml'], author: 'Li Wong', email: 'li.wong@blixit.example', date: '2026-11-02T10:00:00+00:00', message: 'Pinnacle re-certified' });
  // A tidy-up moves the claim mapping's file unchanged: its history goes with it.
  const tidy = { GIT_AUTHOR_NAME: 'Ivan Tidy', GIT_AUTHOR_EMAIL: 'ivan@blixit.example', GIT_COMMITTER_NAME: 'Ivan Tidy', GIT_COMMITTER_EMAIL: 'ivan@blixit.example', GIT_AUTHOR_DATE: '2026-11-03T10:00:00+00:00', GIT_COMMITTER_DATE: '2026-11-03T10:00:00+00:00' };
  await git('git', ['-C', repo, 'mv', 'claims/cascade-claims.yaml', 'claims/cascade.yaml']);
  await git('git', ['-C', repo, '-c', 'commit.gpgsign=false', 'commit', '-q', '-m', 'Name claim files after their organization'], { env: { ...process.env, ...tidy } });
  commits.rename = { hash: (await git('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout.trim(), author: 'Ivan Tidy', email: 'ivan@blixit.example', date: '2026-11-03T10:00:00+00:00' };

  // The server that serves these declarations: Ana signs in once, in March, while Cascade's contract runs.
  dataDir = join(root, 'data');
  const gh = await startTestServer({ dataDir, now: '2026-03-02T08:00:00Z' });
  try {
    const plural: Record<string, string> = { Workspace: 'workspaces', Organization: 'organizations', Client: 'clients', ClaimMapping: 'claimmappings', IdPConnection: 'idpconnections', User: 'users' };
    for (const object of Object.values(declarations) as { kind: string; metadata: { name: string } }[]) {
      const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural[object.kind]}/${object.metadata.name}`, object);
      if (res.status >= 300) throw new Error(JSON.stringify(res.body));
    }
    clientSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-web/secret`)).body.clientSecret;
    await setPassword(gh, 'ana', PASSWORD);
    gh.clock.set('2026-03-02T09:15:00Z');
    await signIn(gh, 'cascade', 'cascade-web', clientSecret, { email: 'ana@cascade.example', password: PASSWORD });
    // A partner admin, invited at run time: in the store, never in git.
    const invited = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users`, { email: 'raj@cascade.example', roles: ['user-manager'] });
    if (invited.status !== 201) throw new Error(JSON.stringify(invited.body));
    invitedId = invited.body.user.id;
    // The owner certifies Cascade through the admin API, after the committed certification.
    const certified = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/certify`, { note: 'March review' });
    if (certified.status !== 200) throw new Error(JSON.stringify(certified.body));
    // Bo, invited at run time, leaves: removed and erased through the admin API.
    const leaver = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users`, { email: 'bo@cascade.example' });
    if (leaver.status !== 201) throw new Error(JSON.stringify(leaver.body));
    erasedId = leaver.body.user.id;
    const erased = await gh.admin('DELETE', `/admin/v1/namespaces/${NS}/organizations/cascade/users/${erasedId}`);
    if (erased.status !== 200) throw new Error(JSON.stringify(erased.body));
  } finally {
    await gh.close();
  }
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('gatehouse attest --format json (git only)', () => {
  let report: any;
  let code: number | null;
  const org = (name: string) => report.organizations.find((o: { name: string }) => o.name === name);

  beforeAll(async () => {
    const run = await attest(['--format', 'json']);
    code = run.code;
    report = JSON.parse(run.output);
  });

  it("covers every declared organization, at the checkout's HEAD, with no store", () => {
    expect(report.organizations.map((o: { name: string }) => o.name)).toEqual(['cascade', 'forge', 'pinnacle']);
    expect(report.git.head).toBe(commits.rename!.hash);
    expect(report.generatedAt).toBe('2026-11-23T09:00:00.000Z');
    expect(report.store).toBeNull();
    expect(org('cascade').activity).toBeNull();
  });

  it('states each contract: id, type, owner, start and end', () => {
    expect(org('cascade').contract).toEqual({ id: 'BLX-2026-014', partnerType: 'consultant', owner: 'maria.jensen@blixit.example', startsAt: '2026-01-01T00:00:00Z', endsAt: '2026-06-30T23:59:59Z', certifiedAt: '2026-02-01T00:00:00Z' });
    expect(org('forge').contract).toBeNull();
  });

  it('names the commit, author and date that declared each organization', () => {
    expect(org('cascade').declaration).toEqual({ file: 'organizations/cascade.yaml', declaredIn: expect.objectContaining(by('cascade')), lastChangedIn: expect.objectContaining(by('cascade')) });
    expect(org('forge').declaration.declaredIn).toMatchObject(by('orgs'));
    // Declared by Carol, last changed by Li Wong.
    expect(org('pinnacle').declaration.declaredIn).toMatchObject({ ...by('orgs'), subject: 'Onboard Forge and Pinnacle' });
    expect(org('pinnacle').declaration.lastChangedIn).toMatchObject(by('recertify'));
  });

  it("lists the applications, claims, identity providers and administrators, each with who declared it (a moved file keeps its history; a similar new file does not borrow another's)", () => {
    const cascade = org('cascade');
    expect(cascade.applications).toEqual([
      expect.objectContaining({ name: 'cascade-web', displayName: 'Timesheets', type: 'web', scopes: ['openid', 'email'], audiences: ['https://timesheets.blixit.example'], declaration: expect.objectContaining({ file: 'clients/cascade-web.yaml', declaredIn: expect.objectContaining(by('client')) }) }),
    ]);
    expect(cascade.claims).toEqual([
      expect.objectContaining({ name: 'organization_id', via: 'built in', declaration: null }),
      expect.objectContaining({ name: 'partner_type', source: 'contract.partnerType', tokens: ['access'], via: 'ClaimMapping cascade-claims', declaration: { file: 'claims/cascade.yaml', declaredIn: expect.objectContaining(by('claims')), lastChangedIn: expect.objectContaining(by('rename')) } }),
    ]);
    expect(cascade.identityProviders).toEqual([expect.objectContaining({ name: 'cascade-directory', type: 'directory', upstream: null, declaration: expect.objectContaining({ declaredIn: expect.objectContaining(by('idps')) }) })]);
    expect(org('pinnacle').identityProviders).toEqual([expect.objectContaining({ name: 'pinnacle-oidc', type: 'oidc', upstream: 'https://login.pinnacle.example' })]);
    expect(cascade.admins).toEqual([expect.objectContaining({ name: 'ana', email: 'ana@cascade.example', roles: ['organization-admin'], active: true, lastSignInAt: null, declaration: expect.objectContaining({ declaredIn: expect.objectContaining(by('admin')) }) })]);
    expect(org('forge').applications).toEqual([]);
    expect(org('forge').admins).toEqual([]);
  });

  it('names the commit that made the last certification', () => {
    expect(org('pinnacle').certification).toEqual({ certifiedAt: '2026-11-01T00:00:00Z', certifiedIn: expect.objectContaining(by('recertify')), dueAt: '2027-01-30T00:00:00.000Z', overdue: false });
    expect(org('cascade').certification).toEqual({ certifiedAt: '2026-02-01T00:00:00Z', certifiedIn: expect.objectContaining(by('cascade')), dueAt: '2026-05-02T00:00:00.000Z', overdue: true });
  });

  it('flags an ended contract still active, a missing owner and an overdue certification; a clean partner has none; exit 3', () => {
    expect(org('cascade').flags.map((f: { code: string }) => f.code)).toEqual(['contract-ended-still-active', 'certification-overdue']);
    expect(org('cascade').flags[0].message).toContain('BLX-2026-014');
    // No contract: nothing to certify until one is declared, and nobody owns it.
    expect(org('forge').flags.map((f: { code: string }) => f.code)).toEqual(['no-owner']);
    expect(org('pinnacle').flags).toEqual([]);
    expect(code).toBe(3);
  });
});

describe("gatehouse attest with the server's store", () => {
  let report: any;
  const org = (name: string) => report.organizations.find((o: { name: string }) => o.name === name);

  beforeAll(async () => {
    const run = await attest(['--format', 'json'], { GATEHOUSE_DATA_DIR: dataDir });
    expect(run.code).toBe(3);
    report = JSON.parse(run.output);
  });

  it('lists partner admins invited at run time beside the declared ones, marked as such, with who invited them', () => {
    expect(org('cascade').admins).toEqual([
      expect.objectContaining({ name: 'ana', source: 'declared', declaration: expect.objectContaining({ file: expect.any(String) }) }),
      { name: invitedId, email: 'raj@cascade.example', roles: ['user-manager'], active: true, lastSignInAt: null, source: 'runtime', declaration: null, invitedBy: 'admin-token:bootstrap', invitedAt: '2026-03-02T09:15:00.000Z' },
    ]);
  });

  it('says so in the Markdown report', async () => {
    const run = await attest([], { GATEHOUSE_DATA_DIR: dataDir });
    expect(run.output).toContain(`- **${invitedId}** raj@cascade.example: user-manager; last sign-in never. **Invited at run time** (not in git) by admin-token:bootstrap at 2026-03-02T09:15:00.000Z.`);
  });

  it('reads the last sign-in and the last token issued from the audit log', () => {
    expect(report.store).toBe(`sqlite at ${join(dataDir, 'gatehouse.db')}`);
    expect(org('cascade').activity).toEqual({ lastSignInAt: '2026-03-02T09:15:00.000Z', lastTokenIssuedAt: '2026-03-02T09:15:00.000Z' });
    expect(org('pinnacle').activity).toEqual({ lastSignInAt: null, lastTokenIssuedAt: null });
    expect(org('cascade').admins[0].lastSignInAt).toBe('2026-03-02T09:15:00.000Z');
  });

  it('takes a certification made through the admin API when it is later than the committed one', () => {
    expect(org('cascade').certification).toEqual({ certifiedAt: '2026-03-02T09:15:00.000Z', certifiedIn: null, certifiedBy: 'admin-token:bootstrap', via: 'admin-api', dueAt: '2026-05-31T09:15:00.000Z', overdue: true });
  });

  it("reports users without a sign-in for the Workspace's inactiveUserAfter, and flags them", () => {
    expect(report.inactiveAfterDays).toBe(60);
    expect(org('cascade').inactiveUsers).toEqual([
      { id: 'ana', email: 'ana@cascade.example', lastSignInAt: '2026-03-02T09:15:00.000Z' },
      { id: invitedId, email: 'raj@cascade.example', lastSignInAt: null },
    ]);
    expect(org('cascade').flags.map((f: { code: string }) => f.code)).toContain('inactive-users');
  });

  it('reports users removed and erased by the pseudonymous id they were known by, and nothing personal of them', async () => {
    expect(org('cascade').erasures).toEqual([{ user: erasedId, at: '2026-03-02T09:15:00.000Z', via: 'admin', actor: 'admin-token:bootstrap' }]);
    expect(org('cascade').inactiveUsers.map((u: { id: string }) => u.id)).not.toContain(erasedId);
    const md = (await attest(['--format', 'md'], { GATEHOUSE_DATA_DIR: dataDir })).output;
    expect(md).toContain(`Users removed and erased: ${erasedId} at 2026-03-02T09:15:00.000Z (admin, by admin-token:bootstrap).`);
    expect(md).not.toContain('bo@cascade.example');
  });

  it('--inactive-days overrides the period: nobody is inactive within 300 days', async () => {
    const run = await attest(['--format', 'json', '--inactive-days', '300'], { GATEHOUSE_DATA_DIR: dataDir });
    const r = JSON.parse(run.output);
    expect(r.inactiveAfterDays).toBe(300);
    expect(r.organizations.find((o: { name: string }) => o.name === 'cascade').inactiveUsers).toEqual([]);
  });

  it('prints no secret', async () => {
    const run = await attest(['--format', 'md'], { GATEHOUSE_DATA_DIR: dataDir });
    expect(run.output).not.toContain(clientSecret);
    expect(run.output).not.toContain(PASSWORD);
  });
});

describe('gatehouse attest --format md', () => {
  let md: string;
  beforeAll(async () => {
    const run = await attest(['--format', 'md'], { GATEHOUSE_DATA_DIR: dataDir });
    expect(run.code).toBe(3);
    md = run.output;
  });

  it('opens with the findings, one line per flag', () => {
    expect(md.startsWith('# Partner access attestation\n')).toBe(true);
    const findings = md.slice(md.indexOf('## Findings'), md.indexOf('## Cascade Consulting'));
    expect(findings).toContain(`- **${NS}/cascade** \`contract-ended-still-active\``);
    expect(findings).toContain(`- **${NS}/cascade** \`certification-overdue\``);
    expect(findings).toContain(`- **${NS}/cascade** \`inactive-users\``);
    expect(findings).toContain(`- **${NS}/forge** \`no-owner\``);
    expect(findings).not.toContain('pinnacle');
  });

  it('has a section per organization with the contract table and who declared what', () => {
    expect(md).toContain(`## Cascade Consulting (${NS}/cascade)`);
    expect(md).toContain('| BLX-2026-014 | consultant | maria.jensen@blixit.example | 2026-01-01T00:00:00Z | 2026-06-30T23:59:59Z | 2026-02-01T00:00:00Z |');
    expect(md).toContain(`\`clients/cascade-web.yaml\`: declared ${commits.client!.hash.slice(0, 7)} Dave Apps <dave@blixit.example> 2026-02-01T09:30:00`);
    expect(md).toContain(`\`organizations/pinnacle.yaml\`: declared ${commits.orgs!.hash.slice(0, 7)} Carol Sourcing`);
    expect(md).toContain(`last changed ${commits.recertify!.hash.slice(0, 7)} Li Wong <li.wong@blixit.example>`);
    expect(md).toContain('- **ana** ana@cascade.example: organization-admin; last sign-in 2026-03-02T09:15:00.000Z.');
    expect(md).toContain('Last sign-in: 2026-03-02T09:15:00.000Z. Last token issued: 2026-03-02T09:15:00.000Z.');
    expect(md).toContain('No contract declared.');
  });

  it('is plain Markdown: no JSON, no undefined, no [object Object]', () => {
    expect(md).not.toMatch(/undefined|\[object Object\]|^\{/m);
  });
});

describe('gatehouse attest outside git and with bad options', () => {
  it('still reports a directory that is not a git checkout, saying there is no provenance (the real binary; other cases run in-process)', async () => {
    const plain = join(root, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'org.yaml'), stringify(declarations['organizations/pinnacle.yaml']));
    const cmd = gatehouse(['attest', '--dir', plain, '--now', NOW], {});
    expect(await cmd.exit()).toBe(0);
    expect(cmd.output()).toContain('(not a git checkout: no provenance)');
    expect(cmd.output()).toContain('`org.yaml`: declared not in git history');
  });

  it.each([
    [['--format', 'pdf'], '--format'],
    [['--now', 'soon'], '--now'],
    [['--inactive-days', '0'], '--inactive-days'],
    [['--signed'], '--signed'],
  ])('%j exits 2 naming %s', async (args, named) => {
    const run = await attest(args);
    expect(run.code).toBe(2);
    expect(run.output).toContain(named);
  });
});

describe('the inactive-user period with several namespaces', () => {
  // Each namespace's Workspace sets its own period; a namespace without a Workspace takes the
  // default (90 days), never another namespace's. Every user last signed in 60 days ago.
  const DAY = 86_400_000;
  const now = Date.parse(NOW);
  const ws = (namespace: string, after: string) => ({ ...workspace({ lifecycle: { inactiveUserAfter: after } }), metadata: { name: `${namespace}-ws`, namespace } });
  const org = (name: string, namespace: string) => ({ ...organization(name), metadata: { name, namespace } });
  let dir: string;
  let data: string;

  beforeAll(async () => {
    dir = join(root, 'namespaces');
    data = join(root, 'namespaces-data');
    await mkdir(dir);
    const files: Record<string, unknown> = {
      'east.yaml': ws('east', '30d'),
      'west.yaml': ws('west', '120d'),
      'alpha.yaml': org('alpha', 'east'),
      'beta.yaml': org('beta', 'west'),
      'gamma.yaml': org('gamma', 'north'),
      // Shared (workspace) clients of east, and alpha's policies for them.
      'hub.yaml': { ...client('hub', undefined, { scopes: ['openid', 'orders:read', 'orders:write'], audiences: ['https://orders.example'] }), metadata: { name: 'hub', namespace: 'east' } },
      'feed.yaml': { ...client('feed', undefined, { type: 'm2m', redirectUris: undefined, scopes: ['orders:read', 'orders:write'], audiences: ['https://orders.example'] }), metadata: { name: 'feed', namespace: 'east' } },
      'alpha-hub.yaml': { ...accessPolicy('alpha-hub', 'alpha', { clientRef: { name: 'hub' }, scopes: [{ scope: 'orders:read' }] }), metadata: { name: 'alpha-hub', namespace: 'east' } },
      'alpha-general.yaml': { ...accessPolicy('alpha-general', 'alpha', { scopes: [{ scope: 'orders:write' }] }), metadata: { name: 'alpha-general', namespace: 'east' } },
    };
    for (const [file, object] of Object.entries(files)) await writeFile(join(dir, file), stringify(object));
    const store = await openStore({ dataDir: data });
    try {
      for (const [namespace, organization] of [
        ['east', 'alpha'],
        ['west', 'beta'],
        ['north', 'gamma'],
      ] as const) {
        const at = now - 60 * DAY;
        await store.users.upsert({ namespace, id: `u-${organization}`, organization, connection: 'directory', subject: `u-${organization}`, email: `u@${organization}.example`, declaredAs: null, profile: {}, roles: [], active: true, passwordHash: null, createdAt: at - DAY, updatedAt: at, lastLoginAt: null });
        await store.users.touchLogin(namespace, `u-${organization}`, at);
      }
    } finally {
      await store.close();
    }
  });

  const build = async (inactiveAfterDays?: number) => {
    const store = await openStore({ dataDir: data });
    try {
      return await buildAttestation({ dir, manifests: (await readManifests(dir)).objects, store, now, ...(inactiveAfterDays !== undefined ? { inactiveAfterDays } : {}) });
    } finally {
      await store.close();
    }
  };
  const inactive = (r: Attestation, name: string) => r.organizations.find((o) => o.name === name)!;

  it("judges each organization by its own namespace's Workspace", async () => {
    const r = await build();
    expect(r.inactiveAfterDaysByNamespace).toEqual({ east: 30, west: 120, north: 90 });
    expect(r.inactiveAfterDays).toBeNull(); // no one period for the whole report
    expect(inactive(r, 'alpha')).toMatchObject({ inactiveAfterDays: 30, inactiveUsers: [{ id: 'u-alpha' }] });
    expect(inactive(r, 'alpha').flags).toContainEqual({ code: 'inactive-users', message: '1 active user has not signed in for 30 days' });
    expect(inactive(r, 'beta')).toMatchObject({ inactiveAfterDays: 120, inactiveUsers: [] });
    expect(inactive(r, 'gamma')).toMatchObject({ inactiveAfterDays: 90, inactiveUsers: [] });
    expect(inactive(r, 'beta').flags.map((f) => f.code)).not.toContain('inactive-users');
    const md = attestationMarkdown(r);
    // Sections come by namespace: east/alpha, north/gamma, west/beta.
    expect(md.slice(md.indexOf('## alpha'), md.indexOf('## gamma'))).toContain('Users without a sign-in for 30 days: u-alpha');
    expect(md.slice(md.indexOf('## gamma'), md.indexOf('## beta'))).toContain('Users without a sign-in for 90 days: none');
    expect(md.slice(md.indexOf('## beta'))).toContain('Users without a sign-in for 120 days: none');
  });

  it("states a shared application's API scopes as the server grants them to the organization's users: its policies for the client and its general ones; none to a shared machine client", async () => {
    const r = await build();
    const apps = Object.fromEntries(inactive(r, 'alpha').applications.map((a) => [a.name, a]));
    expect(apps.hub).toMatchObject({ shared: true, apiScopesAllowed: ['orders:read', 'orders:write'] });
    expect(apps.feed).toMatchObject({ shared: true, type: 'm2m', apiScopesAllowed: [] });
    // gamma (another namespace) sees none of east's shared clients.
    expect(inactive(r, 'gamma').applications).toEqual([]);
  });

  it('--inactive-days overrides every namespace', async () => {
    const r = await build(45);
    expect(r.inactiveAfterDays).toBe(45);
    expect(r.inactiveAfterDaysByNamespace).toEqual({ east: 45, west: 45, north: 45 });
    for (const name of ['alpha', 'beta', 'gamma']) expect(inactive(r, name)).toMatchObject({ inactiveAfterDays: 45, inactiveUsers: [{ id: `u-${name}` }] });
  });

  it('the command reports the same through the store named by GATEHOUSE_DATA_DIR', async () => {
    const run = await gatehouseInProcess(['attest', '--dir', dir, '--now', NOW, '--format', 'json'], { GATEHOUSE_DATA_DIR: data });
    expect(run.code).toBe(3);
    const r = JSON.parse(run.output) as Attestation;
    expect(Object.fromEntries(r.organizations.map((o) => [o.name, o.inactiveUsers!.length]))).toEqual({ alpha: 1, beta: 0, gamma: 0 });
  });
});

describe('gatehouse attest: access approvals', () => {
  const now = Date.parse(NOW);
  const DAY = 86_400_000;
  let dir: string;
  let data: string;

  beforeAll(async () => {
    dir = join(root, 'approvals');
    data = join(root, 'approvals-data');
    await mkdir(dir);
    const files: Record<string, unknown> = {
      'delta.yaml': { ...organization('delta'), metadata: { name: 'delta', namespace: 'south' } },
      'delta-orders.yaml': {
        ...accessPolicy('delta-orders', 'delta', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write', requireApproval: true }], approvers: { roles: ['organization-admin'], users: ['wendy'] } }),
        metadata: { name: 'delta-orders', namespace: 'south' },
      },
    };
    for (const [file, object] of Object.entries(files)) await writeFile(join(dir, file), stringify(object));
    const store = await openStore({ dataDir: data });
    try {
      const ask = (id: string, userId: string) => store.accessRequests.create({ namespace: 'south', id, organization: 'delta', userId, clientId: 'portal.south', scopes: ['orders:write'], justification: `${userId} needs it`, createdAt: now - 10 * DAY });
      for (const [id, userId] of [
        ['ar-standing', 'dana'],
        ['ar-lapsed', 'ed'],
        ['ar-revoked', 'flo'],
        ['ar-pending', 'gus'],
      ] as const)
        await ask(id, userId);
      await store.accessRequests.decide('south', 'ar-standing', { state: 'approved', at: now - 9 * DAY, by: 'user:south/delta/olga', expiresAt: now + 21 * DAY });
      await store.accessRequests.decide('south', 'ar-lapsed', { state: 'approved', at: now - 9 * DAY, by: 'user:south/delta/olga', expiresAt: now - DAY });
      await store.accessRequests.decide('south', 'ar-revoked', { state: 'approved', at: now - 9 * DAY, by: 'user:south/wendy', expiresAt: null });
      await store.accessRequests.end('south', 'ar-revoked', { state: 'revoked', at: now - 2 * DAY, by: 'user:south/wendy' });
    } finally {
      await store.close();
    }
  });

  it('lists the scopes that need approval with their approvers, and the approvals standing now with approver and expiry', async () => {
    const store = await openStore({ dataDir: data });
    let report: Attestation;
    try {
      report = await buildAttestation({ dir, manifests: (await readManifests(dir)).objects, store, now });
    } finally {
      await store.close();
    }
    const delta = report.organizations.find((o) => o.name === 'delta')!;
    expect(delta.approvalScopes).toEqual([{ scope: 'orders:write', policy: 'delta-orders', client: null, approvers: { roles: ['organization-admin'], users: ['wendy'], adminTokens: [] } }]);
    // Not the lapsed, revoked or pending ones.
    expect(delta.standingApprovals).toEqual([{ id: 'ar-standing', user: 'dana', client: 'portal.south', scopes: ['orders:write'], approvedBy: 'user:south/delta/olga', approvedAt: new Date(now - 9 * DAY).toISOString(), expiresAt: new Date(now + 21 * DAY).toISOString(), justification: 'dana needs it' }]);
    const md = attestationMarkdown(report);
    expect(md).toContain('### Access approvals');
    expect(md).toContain('`orders:write` needs approval (AccessPolicy delta-orders); approvers: organization-admin of the organization, workspace user wendy.');
    expect(md).toContain(`| dana | orders:write | portal.south | user:south/delta/olga | ${new Date(now - 9 * DAY).toISOString()} | ${new Date(now + 21 * DAY).toISOString()} | ar-standing |`);
    expect(md).not.toContain('ar-lapsed');
  });

  it('says so when there is no store to read approvals from', async () => {
    const report = await buildAttestation({ dir, manifests: (await readManifests(dir)).objects, now });
    expect(report.organizations[0]!.standingApprovals).toBeNull();
    expect(attestationMarkdown(report)).toContain('Standing approvals: unknown (no store).');
  });
});

describe('the effective settings of each organization, with where they came from', () => {
  // A branch of HQ built from the "regional" template: what it declares nothing of itself comes from either.
  const NS_INHERIT = 'inherit';
  const at = <T extends { metadata: { name: string } }>(o: T) => ({ ...o, metadata: { name: o.metadata.name, namespace: NS_INHERIT } });
  let report: Attestation;

  beforeAll(async () => {
    const dir = join(root, 'inheritance');
    await mkdir(dir);
    const files: Record<string, unknown> = {
      'regional.yaml': at(template('regional', { tokens: { accessToken: '10m' }, emailDomains: ['regional.example'], mfa: { required: true }, network: { allowedCidrs: ['10.0.0.0/8'] }, branding: { accentColor: '#ff8800' }, claims: [{ name: 'region', value: 'eu' }] })),
      'hq.yaml': at(organization('hq', { tokens: { refreshToken: '1d' }, limits: { requestsPerMinute: 60 } })),
      'branch.yaml': at(organization('branch', { emailDomains: undefined, parentRef: { name: 'hq' }, templateRef: { name: 'regional' } })),
      'hq-claims.yaml': at(claimMapping('hq-claims', 'hq', { claims: [{ name: 'tier', value: 'gold' }] })),
      'hq-policy.yaml': at(accessPolicy('hq-policy', 'hq', { scopes: [{ scope: 'orders:read' }] })),
      'branch-policy.yaml': at(accessPolicy('branch-policy', 'branch', { scopes: [{ scope: 'orders:read' }, { scope: 'orders:write' }] })),
      'branch-app.yaml': at(client('branch-app', 'branch', { scopes: ['openid', 'orders:read', 'orders:write'], audiences: ['https://orders.example'] })),
    };
    for (const [file, object] of Object.entries(files)) await writeFile(join(dir, file), stringify(object));
    report = await buildAttestation({ dir, manifests: (await readManifests(dir)).objects, now: Date.parse(NOW) });
  });
  const branch = () => report.organizations.find((o) => o.name === 'branch')!;

  it('lists each setting, its value and the level it came from', () => {
    const rows = Object.fromEntries(branch().effective.map((r) => [r.field, `${r.value} ← ${r.source}`]));
    expect(rows).toEqual({
      'tokens.accessToken': '10m ← template:regional',
      'tokens.idToken': '15m ← default',
      'tokens.refreshToken': '1d ← parent:hq',
      'mfa.required': 'true ← template:regional',
      'network.allowedCidrs': '10.0.0.0/8 ← template:regional',
      'limits.requestsPerMinute': '60 ← parent:hq',
      emailDomains: 'regional.example ← template:regional',
      'branding.accentColor': '#ff8800 ← template:regional',
      'claims.tier': '"gold" ← parent:hq',
      'claims.region': '"eu" ← template:regional',
    });
  });

  it('lists inherited claims with the object that declared them, and API scopes narrowed by the parent', () => {
    expect(branch().claims.map((c) => [c.name, c.via])).toEqual([
      ['organization_id', 'built in'],
      ['tier', 'ClaimMapping hq-claims (inherited from hq)'],
      ['region', 'OrganizationTemplate regional'],
    ]);
    expect(branch().applications[0]).toMatchObject({ name: 'branch-app', apiScopesAllowed: ['orders:read'] });
  });

  it('prints them as a table in Markdown', () => {
    const md = attestationMarkdown(report);
    const section = md.slice(md.indexOf('## branch'), md.indexOf('## hq'));
    expect(section).toContain('### Effective settings');
    expect(section).toContain('| tokens.accessToken | 10m | template:regional |');
    expect(section).toContain('| limits.requestsPerMinute | 60 | parent:hq |');
  });
});
