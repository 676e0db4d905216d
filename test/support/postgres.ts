/**
 * A throwaway PostgreSQL server for tests, started from the machine's own binaries
 * (initdb, pg_ctl). Loopback only, trust authentication, fsync off: it holds nothing
 * worth keeping and disappears with `stop()`.
 *
 *   const server = await startPostgres();        // undefined when there are no binaries
 *   if (server) {
 *     server.url;                                 // a database made for this file
 *     await server.createSchema();                // a fresh, empty "database" in milliseconds
 *     await server.createDatabase();              // a real fresh database (slower)
 *     await server.stop();
 *   }
 *
 * Start one server per test file (beforeAll/afterAll, or top-level await plus afterAll
 * when the file must know at collection time whether to skip) and a schema per test.
 *
 * Running as root (initdb refuses to), the binaries run as the `postgres` system user
 * through `runuser -u postgres --` (or `su postgres -s /bin/sh -c`), in a temp dir
 * chowned to it. A small watchdog shell stops the server and removes its directory if
 * the test process dies without calling `stop()`.
 *
 * GATEHOUSE_TEST_POSTGRES=off skips PostgreSQL; GATEHOUSE_TEST_POSTGRES=/path/to/bin
 * picks the binaries.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chown, mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  /** A database created for this file: `postgres://postgres@127.0.0.1:<port>/gatehouse_test`. */
  url: string;
  port: number;
  /** Creates another empty database and returns its URL (0.1–0.4 s: it copies template0). */
  createDatabase(name?: string): Promise<string>;
  /**
   * Creates an empty schema in the database of `url` and returns a URL whose connections
   * see only it (`?options=-c search_path=<schema>`): as good as a fresh database for code
   * that uses unqualified table names, and made in a few milliseconds.
   */
  createSchema(name?: string): Promise<string>;
  /** `pg_ctl stop -m immediate`, then the data directory is removed. Safe to call twice. */
  stop(): Promise<void>;
}

const SYSTEM_USER = 'postgres';
const SKIPPED = 'the PostgreSQL tests are skipped.';

/** The directory holding initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBinaries(): string | undefined {
  const has = (dir: string) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'));
  const chosen = process.env.GATEHOUSE_TEST_POSTGRES;
  if (chosen && chosen !== 'off') return has(chosen) ? chosen : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && has(dir)) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (has(join(root, v, 'bin'))) return join(root, v, 'bin');
  }
  return undefined;
}

/** The command line that runs `command args` as ourselves, or as the postgres system user when we are root. */
type AsServerUser = (command: string, args: string[]) => [string, ...string[]];

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function asServerUser(): AsServerUser | undefined {
  if (process.getuid?.() !== 0) return (command, args) => [command, ...args];
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  if (runuser) return (command, args) => [runuser, '-u', SYSTEM_USER, '--', command, ...args];
  const su = ['/usr/bin/su', '/bin/su'].find((p) => existsSync(p));
  if (su) return (command, args) => [su, SYSTEM_USER, '-s', '/bin/sh', '-c', [command, ...args].map(shellQuote).join(' ')];
  return undefined;
}

function exec([file, ...args]: [string, ...string[]], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env: { ...process.env, LC_ALL: 'C' }, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[file, ...args].join(' ')} failed: ${stderr.trim() || stdout.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

function systemUserIds(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // no /etc/passwd: nobody to switch to
  }
  return undefined;
}

/**
 * Where the throwaway cluster lives: /dev/shm (memory) when it exists, since initdb
 * writes ~40 MB and takes about half the time there (0.9 s against 2 s here); the
 * system temp dir otherwise.
 */
function scratchBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** A port nothing listens on right now: bind port 0 on loopback, read it, let it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

let databases = 0;
let schemas = 0;

/**
 * A freshly initialised data directory, made once per machine, binaries and user, for each
 * server to copy: initdb is most of a server's start (~0.8 s here, for each of the ~17 spec
 * files that start one), a copy of its 40 MB about 0.1 s, and the copy is the same cluster.
 * It lives under the temporary directory (on disk, not in /dev/shm); made under a temporary
 * name and renamed, so a concurrent spec file never copies half of one.
 */
async function clusterTemplate(bin: string, as: AsServerUser, ids: { uid: number; gid: number } | undefined): Promise<string> {
  const initdb = join(bin, 'initdb');
  const version = (await exec([initdb, '--version'], tmpdir())).trim();
  const key = createHash('sha256')
    .update(`${bin}\n${version}\n${process.getuid?.() ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  const template = join(tmpdir(), `gatehouse-pg-template-${key}`);
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const building = await mkdtemp(join(tmpdir(), 'gatehouse-pg-template-'));
  try {
    if (ids) await chown(building, ids.uid, ids.gid);
    await exec(as(initdb, ['-D', join(building, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']), building);
    await rename(join(building, 'data'), template).catch((error: NodeJS.ErrnoException) => {
      // Another spec file made it first: theirs is as good.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(building, { recursive: true, force: true });
  }
  return template;
}

/**
 * Starts a server (a few tenths of a second, from a copy of `clusterTemplate`), or returns `undefined` after saying why on the
 * console, so callers can skip their PostgreSQL tests.
 */
export async function startPostgres(): Promise<PostgresServer | undefined> {
  if (process.env.GATEHOUSE_TEST_POSTGRES === 'off') {
    console.log(`GATEHOUSE_TEST_POSTGRES=off: ${SKIPPED}`);
    return undefined;
  }
  const bin = findPostgresBinaries();
  if (!bin) {
    console.log(`No PostgreSQL binaries (initdb, pg_ctl) were found on PATH or in /usr/lib/postgresql/*/bin: ${SKIPPED}`);
    return undefined;
  }
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? systemUserIds(SYSTEM_USER) : undefined;
  const wrap = asServerUser();
  if (asRoot && (!ids || !wrap)) {
    console.log(`Running as root, and there is no "${SYSTEM_USER}" system user or no runuser/su to run initdb as it: ${SKIPPED}`);
    return undefined;
  }
  const as = wrap!;

  const dir = await mkdtemp(join(scratchBase(), 'gatehouse-pg-'));
  if (ids) await chown(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const pgCtl = join(bin, 'pg_ctl');
  const stopCommand = as(pgCtl, ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '10']);

  // Stops the server and removes its files should this process die without stop().
  const watchdog = spawn('/bin/sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCommand.map(shellQuote).join(' ')} >/dev/null 2>&1; rm -rf ${shellQuote(dir)}`], { detached: true, stdio: 'ignore' });
  watchdog.unref();

  let running = false;
  let owner: pg.Client | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (watchdog.pid) {
        try {
          process.kill(watchdog.pid);
        } catch {
          // already gone
        }
      }
      await owner?.end().catch(() => undefined);
      if (running) await exec(stopCommand, dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    })());

  try {
    // `cp -a` keeps the owner (the postgres user when the tests run as root) and the 0700 mode.
    await exec(['cp', '-a', await clusterTemplate(bin, as, ids), data], dir);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const options = [
        `-p ${port}`,
        `-k ${shellQuote(dir)}`,
        '-c listen_addresses=127.0.0.1',
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        // Dynamic shared memory in the data dir, not /dev/shm: an immediate stop leaves nothing behind.
        '-c dynamic_shared_memory_type=mmap',
      ];
      try {
        await exec(as(pgCtl, ['start', '-D', data, '-l', log, '-w', '-t', '15', '-o', options.join(' ')]), dir);
        running = true;
        break;
      } catch (error) {
        // Most likely someone took the port between our probe and the server's bind: try another.
        if (attempt >= 3) throw new Error(`${(error as Error).message}\n${readLog(log)}`);
      }
    }

    const base = `postgres://postgres@127.0.0.1:${port}`;
    const createDatabase = async (name = `gatehouse_${process.pid}_${++databases}`) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const client = await connectWithRetry(`${base}/postgres`);
      try {
        // The default strategy: FILE_COPY would force two checkpoints and is slower here.
        await client.query(`CREATE DATABASE ${name} TEMPLATE template0`);
      } finally {
        await client.end();
      }
      return `${base}/${name}`;
    };
    const url = await createDatabase('gatehouse_test');
    const createSchema = async (name = `test_${process.pid}_${++schemas}`) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain schema name: ${name}`);
      owner ??= await connectWithRetry(url);
      await owner.query(`CREATE SCHEMA ${name}`);
      return `${url}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
    };
    return { url, port, createDatabase, createSchema, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** pg_ctl -w has already waited for readiness; a few retries cover a server still finishing its start-up. */
async function connectWithRetry(connectionString: string): Promise<pg.Client> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString });
    client.on('error', () => undefined); // the server going away under an idle client must not crash the tests
    try {
      await client.connect();
      return client;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}
