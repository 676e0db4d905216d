import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { auditKey, recordHash, type AuditFields } from '../../server/audit/chain.ts';
import { Sealer } from '../../server/secrets/sealer.ts';
import { openStore } from '../../server/store/index.ts';
import { recompute } from '../support/audit.ts';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';
import { NS, client, organization, user, workspace } from '../support/objects.ts';
import { TEST_SECRET_KEY, startTestServer } from '../support/server.ts';

/**
 * `gatehouse audit verify|export` read the store a server wrote (GATEHOUSE_DATA_DIR), as
 * an auditor would after the fact: the chain is re-walked from the rows on disk, and an
 * edited or deleted row is named by its sequence number.
 */

let root: string;
let pristine: string;
let clientSecret: string;
let adminToken: string;
interface Row {
  seq: number;
  action: string;
  hash: string;
  data: string;
}
let rows: Row[];
/** A checkpoint of the last record, of another namespace's, and the JWKS of the namespace (a file, and served). */
let checkpointFile: string;
let otherCheckpointFile: string;
let jwksFile: string;
let jwksServer: Server;
let jwksUrl: string;

/** With the server's GATEHOUSE_SECRET_KEY, as an operator verifying its store would have it. */
async function run(args: string[], dataDir: string, env: Record<string, string> = { GATEHOUSE_SECRET_KEY: TEST_SECRET_KEY }): Promise<{ code: number | null; output: string }> {
  return gatehouseInProcess(['audit', ...args], { GATEHOUSE_DATA_DIR: dataDir, ...env });
}

/** A copy of the server's data directory to tamper with; the original stays intact. */
async function copyOfStore(): Promise<string> {
  const dir = await mkdtemp(join(root, 'copy-'));
  await cp(pristine, dir, { recursive: true });
  return dir;
}

function sql(dataDir: string, statement: string, ...params: (string | number)[]): void {
  const db = new DatabaseSync(join(dataDir, 'gatehouse.db'));
  try {
    expect(Number(db.prepare(statement).run(...params).changes)).toBe(1);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-audit-cli-'));
  pristine = join(root, 'data');
  const gh = await startTestServer({ dataDir: pristine });
  adminToken = gh.token;
  try {
    const put = async (plural: string, object: { metadata: { name: string } }) => {
      const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${object.metadata.name}`, object);
      if (res.status >= 300) throw new Error(JSON.stringify(res.body));
    };
    await put('workspaces', workspace());
    await put('organizations', organization('cascade'));
    await put('organizations', organization('forge'));
    await put('clients', client('cascade-web', 'cascade'));
    clientSecret = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/cascade-web/secret`)).body.clientSecret;
    expect(clientSecret.length).toBeGreaterThan(20);
    await put('users', user('ana', 'cascade'));
    const invited = await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users`, { email: 'temp@cascade.example' });
    expect(invited.status).toBe(201);
    expect((await gh.admin('POST', `/admin/v1/namespaces/${NS}/organizations/cascade/users/${invited.body.user.id}/deactivate`)).status).toBe(200);
    await put('organizations', organization('forge', { suspended: true }));
    const otherWorkspace = await gh.admin('PUT', '/admin/v1/namespaces/other/workspaces/other', { ...workspace(), metadata: { name: 'other', namespace: 'other' } });
    expect(otherWorkspace.status).toBeLessThan(300);
    // Taken last: it vouches for every record above.
    const checkpoint = await fetch(`${gh.url}/admin/v1/audit/checkpoint?namespace=${NS}`, { headers: { authorization: `Bearer ${gh.token}` } });
    expect(checkpoint.status).toBe(200);
    checkpointFile = join(root, 'checkpoint.jws');
    await writeFile(checkpointFile, await checkpoint.text());
    const other = await fetch(`${gh.url}/admin/v1/audit/checkpoint?namespace=other`, { headers: { authorization: `Bearer ${gh.token}` } });
    otherCheckpointFile = join(root, 'other-checkpoint.jws');
    await writeFile(otherCheckpointFile, await other.text());
    const jwks = await (await fetch(`${gh.url}/${NS}/cascade/jwks`)).text();
    jwksFile = join(root, 'jwks.json');
    await writeFile(jwksFile, jwks);
    jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/${NS}/cascade/jwks`;
  } finally {
    await gh.close();
  }
  const db = new DatabaseSync(join(pristine, 'gatehouse.db'), { readOnly: true });
  rows = db.prepare('SELECT seq, action, hash, data FROM audit ORDER BY seq').all() as unknown as Row[];
  db.close();
  expect(rows.length).toBeGreaterThanOrEqual(10);
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => jwksServer?.close(resolve));
  await rm(root, { recursive: true, force: true });
});

describe('gatehouse audit verify', () => {
  it('the real binary: exit 0 on an intact store and exit 1 on a broken one (the other cases run in-process)', async () => {
    const dir = await copyOfStore();
    sql(dir, 'DELETE FROM audit WHERE seq = ?', rows[4]!.seq);
    const [intact, broken] = [pristine, dir].map((d) => gatehouse(['audit', 'verify'], { GATEHOUSE_DATA_DIR: d, GATEHOUSE_SECRET_KEY: TEST_SECRET_KEY }));
    expect(await intact!.exit()).toBe(0);
    expect(intact!.output()).toContain(`audit chain intact: ${rows.length} records`);
    expect(await broken!.exit()).toBe(1);
    expect(broken!.output()).toContain(`audit chain BROKEN at record ${rows[4]!.seq + 1}`);
  });

  it('on an intact store: exit 0 and one line with the record count and the chain head', async () => {
    const { code, output } = await run(['verify'], pristine);
    expect(code).toBe(0);
    expect(output.trim()).toBe(`audit chain intact: ${rows.length} records, head ${rows[rows.length - 1]!.hash}, keyed from record 1 (sqlite at ${join(pristine, 'gatehouse.db')})`);
  });

  it('a record whose data was edited in the database: exit 1, names that record', async () => {
    const dir = await copyOfStore();
    const victim = rows[Math.floor(rows.length / 2)]!;
    const data = JSON.parse(victim.data) as Record<string, unknown>;
    sql(dir, 'UPDATE audit SET data = ? WHERE seq = ?', JSON.stringify({ ...data, note: 'nothing to see' }), victim.seq);
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toContain(`audit chain BROKEN at record ${victim.seq}: record ${victim.seq} was changed after it was written`);
  });

  it('an edited actor is caught the same way: every column is under the hash', async () => {
    const dir = await copyOfStore();
    const victim = rows[3]!;
    sql(dir, "UPDATE audit SET actor = 'someone-else' WHERE seq = ?", victim.seq);
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toContain(`BROKEN at record ${victim.seq}`);
  });

  it('a record whose hash alone was overwritten: named as changed', async () => {
    const dir = await copyOfStore();
    const victim = rows[2]!;
    sql(dir, 'UPDATE audit SET hash = ? WHERE seq = ?', 'f'.repeat(64), victim.seq);
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`BROKEN at record ${victim.seq}: record ${victim.seq} was changed after it was written`));
  });

  it('a record edited and re-hashed without the key: its hash is not the keyed one, and it is named', async () => {
    const dir = await copyOfStore();
    const victim = rows[6]!;
    const db = new DatabaseSync(join(dir, 'gatehouse.db'));
    try {
      const row = db.prepare('SELECT * FROM audit WHERE seq = ?').get(victim.seq) as Record<string, string | number | null>;
      const fields: AuditFields = {
        seq: Number(row.seq),
        at: Number(row.at),
        action: String(row.action),
        actor: 'someone-else',
        namespace: row.namespace as string | null,
        organization: row.organization as string | null,
        kind: row.kind as string | null,
        name: row.name as string | null,
        client: row.client as string | null,
        subject: row.subject as string | null,
        outcome: String(row.outcome),
        data: JSON.parse(String(row.data)) as Record<string, unknown>,
      };
      db.prepare('UPDATE audit SET actor = ?, hash = ? WHERE seq = ?').run(fields.actor, recordHash(String(row.prev_hash), fields), victim.seq);
    } finally {
      db.close();
    }
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toContain(`audit chain BROKEN at record ${victim.seq}: record ${victim.seq} carries an unkeyed hash, but the chain is keyed from record 1`);
  });

  it('a record deleted from the middle: exit 1, names the missing record and the one after the gap', async () => {
    const dir = await copyOfStore();
    const victim = rows[4]!;
    sql(dir, 'DELETE FROM audit WHERE seq = ?', victim.seq);
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toContain(`audit chain BROKEN at record ${victim.seq + 1}: record ${victim.seq} is missing before record ${victim.seq + 1}`);
  });

  it('the last record deleted: the recorded head still counts it', async () => {
    const dir = await copyOfStore();
    const last = rows[rows.length - 1]!;
    sql(dir, 'DELETE FROM audit WHERE seq = ?', last.seq);
    const { code, output } = await run(['verify'], dir);
    expect(code).toBe(1);
    expect(output).toContain(`record ${last.seq} is missing from the end of the chain`);
  });

  it('prints no secret: neither the client secret nor the admin token, intact or broken', async () => {
    const dir = await copyOfStore();
    sql(dir, 'DELETE FROM audit WHERE seq = ?', rows[1]!.seq);
    for (const d of [pristine, dir]) {
      const { output } = await run(['verify'], d);
      expect(output).not.toContain(clientSecret);
      expect(output).not.toContain(adminToken);
    }
  });

  it('a data directory with no store: exit 1 saying so, and creates nothing', async () => {
    const empty = await mkdtemp(join(root, 'empty-'));
    const { code, output } = await run(['verify'], empty);
    expect(code).toBe(1);
    expect(output).toContain(`no store at ${join(empty, 'gatehouse.db')}`);
    expect(await readdir(empty)).toEqual([]);
    expect(existsSync(join(empty, 'gatehouse.db'))).toBe(false);
  });
});

describe('gatehouse audit verify --checkpoint', () => {
  const key = auditKey((purpose) => new Sealer(TEST_SECRET_KEY).derive(purpose));
  const last = () => rows[rows.length - 1]!;

  /** Opens a copy of the store as someone with write access to its database would. */
  async function tamper(dir: string, change: (store: Awaited<ReturnType<typeof openStore>>) => Promise<void>): Promise<void> {
    const store = await openStore({ dataDir: dir });
    try {
      await change(store);
    } finally {
      await store.close();
    }
  }

  it("an intact chain that still holds the checkpoint's record: exit 0, saying so", async () => {
    for (const jwks of [jwksFile, jwksUrl]) {
      const { code, output } = await run(['verify', '--checkpoint', checkpointFile, '--jwks', jwks], pristine);
      expect(code).toBe(0);
      expect(output).toMatch(new RegExp(`^audit chain intact: ${rows.length} records, head ${last().hash}, keyed from record 1; checkpoint of record ${last().seq} \\(${NS}, 2026-11-23T09:00:00.000Z\\) holds `));
    }
  });

  it('history rewritten and the chain recomputed with the key itself: the chain verifies, the checkpoint does not', async () => {
    const dir = await copyOfStore();
    const victim = rows[4]!;
    await tamper(dir, async (store) => {
      await store.driver.run("UPDATE audit SET actor = 'someone-else' WHERE seq = ?", [victim.seq]);
      await recompute(store, victim.seq, () => key);
    });
    expect((await run(['verify'], dir)).code).toBe(0);
    const { code, output } = await run(['verify', '--checkpoint', checkpointFile, '--jwks', jwksFile], dir);
    expect(code).toBe(1);
    expect(output).toContain(`audit chain BROKEN against checkpoint ${checkpointFile}: record ${last().seq} has hash `);
    expect(output).toContain(`but the checkpoint of 2026-11-23T09:00:00.000Z says ${last().hash}: the chain up to it was rewritten`);
  });

  it('the same rewrite without the key is caught by the chain itself', async () => {
    const dir = await copyOfStore();
    const victim = rows[4]!;
    await tamper(dir, async (store) => {
      await store.driver.run("UPDATE audit SET actor = 'someone-else' WHERE seq = ?", [victim.seq]);
      await recompute(store, victim.seq, () => undefined);
    });
    const { code, output } = await run(['verify', '--checkpoint', checkpointFile, '--jwks', jwksFile], dir);
    expect(code).toBe(1);
    expect(output).toContain(`audit chain BROKEN at record ${victim.seq}: record ${victim.seq} carries an unkeyed hash, but the chain is keyed from record 1`);
  });

  it('the tail cut after the checkpoint, the head row moved back to match: caught', async () => {
    const dir = await copyOfStore();
    const cut = rows[rows.length - 3]!;
    await tamper(dir, async (store) => {
      await store.driver.run('DELETE FROM audit WHERE seq > ?', [cut.seq]);
      await store.driver.run('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [cut.seq, cut.hash]);
    });
    expect((await run(['verify'], dir)).code).toBe(0);
    const { code, output } = await run(['verify', '--checkpoint', checkpointFile, '--jwks', jwksFile], dir);
    expect(code).toBe(1);
    expect(output).toContain(`the chain ends at record ${cut.seq}, but the checkpoint of 2026-11-23T09:00:00.000Z vouches for record ${last().seq}: records were cut from the end`);
  });

  it("a checkpoint signed with another namespace's key: refused before the store is read", async () => {
    const { code, output } = await run(['verify', '--checkpoint', otherCheckpointFile, '--jwks', jwksFile], pristine);
    expect(code).toBe(1);
    expect(output).toContain(`checkpoint ${otherCheckpointFile} REFUSED: the checkpoint was not signed by any key of this key set (another namespace, or not ours)`);
  });

  it('a checkpoint altered to vouch for less (a lower seq): its signature fails', async () => {
    const [header, payload, signature] = (await readFile(checkpointFile, 'utf8')).trim().split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { seq: number; hash: string };
    const forged = Buffer.from(JSON.stringify({ ...claims, seq: rows[2]!.seq, hash: rows[2]!.hash })).toString('base64url');
    const file = join(root, 'forged.jws');
    await writeFile(file, `${header}.${forged}.${signature}`);
    const { code, output } = await run(['verify', '--checkpoint', file, '--jwks', jwksFile], pristine);
    expect(code).toBe(1);
    expect(output).toContain(`checkpoint ${file} REFUSED: the checkpoint's signature does not verify: it was altered`);
  });

  it('--checkpoint without --jwks: a usage error', async () => {
    const { code, output } = await run(['verify', '--checkpoint', checkpointFile], pristine);
    expect(code).toBe(2);
    expect(output).toContain('--checkpoint needs --jwks');
  });

  it('a keyed chain verified without GATEHOUSE_SECRET_KEY: exit 1, naming what is missing', async () => {
    const { code, output } = await run(['verify'], pristine, {});
    expect(code).toBe(1);
    expect(output).toContain('the chain is keyed from record 1: verifying it needs GATEHOUSE_SECRET_KEY');
  });
});

describe('gatehouse audit export', () => {
  it('writes every record as one JSON line, oldest first, the same rows as the store', async () => {
    const { code, output } = await run(['export'], pristine);
    expect(code).toBe(0);
    const lines = output
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; action: string; hash: string });
    expect(lines.map((l) => [l.seq, l.action, l.hash])).toEqual(rows.map((r) => [r.seq, r.action, r.hash]));
    expect(output).not.toContain(clientSecret);
    expect(output).not.toContain(adminToken);
  });

  it('--after SEQ resumes past a sequence number', async () => {
    const cut = rows[5]!.seq;
    const { code, output } = await run(['export', '--after', String(cut)], pristine);
    expect(code).toBe(0);
    expect(
      output
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual(rows.filter((r) => r.seq > cut).map((r) => r.seq));
  });

  it('--format ocsf writes Account Change events for the user changes and leaves configuration out', async () => {
    const { code, output } = await run(['export', '--format', 'ocsf'], pristine);
    expect(code).toBe(0);
    const events = output
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { class_uid: number; activity_id: number; type_uid: number; unmapped: { action: string } });
    expect(events.map((e) => [e.unmapped.action, e.class_uid, e.type_uid])).toEqual([
      ['User.created', 3001, 300101],
      ['user.invited', 3001, 300101],
      ['user.password-link-created', 3001, 300104],
      ['user.deactivated', 3001, 300105],
    ]);
  });

  it.each([
    [['--format', 'csv'], '--format'],
    [['--after', 'yesterday'], '--after'],
    [['--after=-1'], '--after'],
    [['--bogus'], '--bogus'],
  ])('refuses %j with exit 2, naming %s, and writes no records', async (args, named) => {
    const { code, output } = await run(['export', ...args], pristine);
    expect(code).toBe(2);
    expect(output).toContain(named);
    expect(output).not.toContain('"seq"');
  });
});
