import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { command, type RunningCommand } from '../support/process.ts';
import { temporaryDirectories } from '../support/temp-dirs.ts';

// Gatehouse as a user gets it: `npm pack` (whose prepack builds dist/), the tarball installed into
// a fresh folder, then the installed `gatehouse` command and `gatehouse/pulumi` used from there.
// Nothing of the checkout is reachable from that folder but the Node 24 on the PATH.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const temporaryDirectory = temporaryDirectories('gatehouse-package-');
// The project's Node 24 first: the installed bin starts with `#!/usr/bin/env node`.
const PATH = `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`;

interface PackageJson {
  name: string;
  version: string;
  license: string;
  bin: Record<string, string>;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
interface LockEntry {
  dev?: boolean;
  link?: boolean;
}

let work: string;
let app: string;
let pkg: PackageJson;

async function npm(args: string[], cwd: string): Promise<string> {
  try {
    return (await run('npm', [...args, '--no-audit', '--no-fund'], { cwd, env: { ...process.env, PATH }, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (error) {
    const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
    if (/ENOTCACHED/.test(stderr)) {
      throw new Error(`npm ${args[0]}: the npm cache lacks a package the tarball needs, and this spec does not use the network. Run \`npm ci\` in the checkout with the registry reachable (it fills the cache), then run the spec again.\n${stderr}`);
    }
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`);
  }
}

/**
 * The checkout's files as a fresh clone has them (tracked and new, not ignored: no dist/, no data),
 * with the checkout's node_modules. Packing there leaves the developer's checkout without a build,
 * so `npx gatehouse` in it keeps running the sources.
 */
async function cleanCopy(to: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  for (const file of stdout.split('\0').filter(Boolean)) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await cp(join(ROOT, file), join(to, file), { verbatimSymlinks: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error; // deleted in the working tree, not yet in the index
    });
  }
  await symlink(join(ROOT, 'node_modules'), join(to, 'node_modules'));
}

/**
 * `npm install --offline gatehouse-x.tgz` would need the registry's metadata of every dependency to
 * resolve their ranges, and `npm ci` caches only the tarballs. So the folder gets a lock made of
 * the checkout's: its production packages, at the versions the tests ran with, plus the tarball.
 */
async function lockedApp(tarball: string): Promise<void> {
  const rootLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${tarball}`;
  const manifest = { name: 'gatehouse-user', private: true, type: 'module', dependencies: { gatehouse: spec }, allowScripts: pkg.allowScripts ?? {} };
  const packages: Record<string, unknown> = { '': { name: manifest.name, dependencies: manifest.dependencies } };
  for (const [path, entry] of Object.entries(rootLock.packages)) if (path !== '' && !entry.dev && !entry.link) packages[path] = entry;
  packages['node_modules/gatehouse'] = { version: pkg.version, resolved: spec, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines };
  await writeFile(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  await writeFile(join(app, 'package-lock.json'), JSON.stringify({ name: manifest.name, lockfileVersion: 3, requires: true, packages }, null, 2));
}

beforeAll(async () => {
  pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  work = await temporaryDirectory();
  const checkout = join(work, 'checkout');
  app = join(work, 'app');
  await mkdir(app);
  await cleanCopy(checkout);
  await npm(['pack', '--pack-destination', work], checkout);
  const tarball = (await readdir(work)).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${work}`);
  await lockedApp(join(work, tarball));
  await npm(['ci', '--offline'], app);
}, 420_000);

describe('the packed tarball, installed without the network', () => {
  it('holds JavaScript, declarations, the CRDs, README, the docs and LICENSE: no TypeScript sources, tests or data', async () => {
    const installed = join(app, 'node_modules/gatehouse');
    const files = (await readdir(installed, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(installed.length + 1));
    expect(files).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'dist/bin/gatehouse.js',
        'dist/bin/pulumi-resource-gatehouse.js',
        'dist/provider/native-sdk.d.ts',
        'dist/provider/schema.json',
        'dist/cli/main.js',
        'dist/provider/index.d.ts',
        'controller/crds/gatehouse.dev_organizations.yaml',
        'docs/configuration.md',
        'docs/security.md',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^(test|bench|demo|examples|data)\/|\.test\.|secret\.key|\.db$|\.tgz$/.test(f))).toEqual([]);
    expect(files.every((f) => f.startsWith('dist/') || f.startsWith('controller/crds/') || /^docs\/[a-z-]+\.md$/.test(f) || ['LICENSE', 'README.md', 'package.json'].includes(f))).toBe(true);
  });

  it('installs a gatehouse command that prints the package version', async () => {
    const version = command(join(app, 'node_modules/.bin/gatehouse'), ['--version'], { env: { PATH }, cwd: app });
    expect(await version.exit()).toBe(0);
    expect(version.output()).toBe(`${pkg.version}\n`);
  });

  describe('gatehouse serve', () => {
    let serve: RunningCommand;
    let url: string;
    let token: string;
    beforeAll(async () => {
      const declarations = join(work, 'declarations');
      await cp(join(ROOT, 'examples/blixit-partners'), declarations, { recursive: true });
      serve = command(join(app, 'node_modules/.bin/gatehouse'), ['serve', '--dir', declarations], {
        env: { PATH, PORT: '0', GATEHOUSE_DATA_DIR: join(work, 'data'), GATEHOUSE_SECRET_KEY: 'k'.repeat(48) },
        cwd: app,
      });
      token = (await serve.waitFor(/admin token \(shown once; only its hash is kept\): (\S+)/, 60_000))[1]!;
      url = (await serve.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000))[1]!;
    }, 90_000);
    afterAll(async () => {
      expect(await serve?.stop()).toBe(0);
    });

    it('answers readiness once the example declarations are applied', async () => {
      expect(serve.output()).toMatch(/applied 19 objects from .* \(19 created, 0 updated, 0 unchanged\)/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const discovery = (await (await fetch(`${url}/blixit-partners/forge-supplies/.well-known/openid-configuration`)).json()) as { issuer: string };
      expect(discovery.issuer).toBe(`${url}/blixit-partners/forge-supplies`);
    });

    it('issues a token, which the audit thread (a worker loaded from dist/) records', async () => {
      const secret = await fetch(`${url}/admin/v1/namespaces/blixit-partners/clients/forge-inventory-sync/secret`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(secret.status).toBe(200);
      const { clientId, clientSecret } = (await secret.json()) as { clientId: string; clientSecret: string };
      const issued = await fetch(`${url}/blixit-partners/forge-supplies/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }),
      });
      expect(issued.status).toBe(200);
      const audit = await fetch(`${url}/admin/v1/audit?namespace=blixit-partners`, { headers: { authorization: `Bearer ${token}` } });
      expect(JSON.stringify(await audit.json())).toContain(clientId);
      expect(serve.output()).not.toMatch(/audit thread|worker|ERR_/i);
    });
  });

  it('starts the WAL checkpoint thread from dist/ (its failure would only be silent slowness)', async () => {
    await mkdir(join(app, 'wal'));
    await writeFile(
      join(app, 'checkpoint.ts'),
      `import { DatabaseSync } from 'node:sqlite';
import { WalCheckpointer } from './node_modules/gatehouse/dist/server/store/wal-checkpointer.js';

const location = 'wal/store.db';
const db = new DatabaseSync(location);
db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1)');
const checkpointer = new WalCheckpointer(location, { settleMs: 0 });
const timer = setTimeout(() => {
  process.stdout.write('no checkpoint within 10 s');
  process.exit(1);
}, 10_000);
checkpointer.onCheckpoint((progress) => {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(progress));
  void checkpointer.stop().then(() => db.close());
});
checkpointer.committed();
`,
    );
    const checkpoint = command(process.execPath, ['checkpoint.ts'], { env: { PATH }, cwd: app });
    expect(await checkpoint.exit()).toBe(0);
    expect(JSON.parse(checkpoint.output())).toEqual({ log: expect.any(Number), checkpointed: expect.any(Number) });
  }, 30_000);

  it('installs pulumi-resource-gatehouse, the native provider plugin, serving its schema from dist/', async () => {
    const plugin = command(join(app, 'node_modules/.bin/pulumi-resource-gatehouse'), ['127.0.0.1:1'], { env: { PATH }, cwd: app });
    try {
      const port = (await plugin.waitFor(/^(\d+)\n/, 30_000))[1]!;
      await writeFile(
        join(app, 'schema.ts'),
        `import * as grpc from '@grpc/grpc-js';
import provrpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import provproto from '@pulumi/pulumi/proto/provider_pb.js';
const client = new provrpc.ResourceProviderClient('127.0.0.1:${port}', grpc.credentials.createInsecure());
client.getSchema(new provproto.GetSchemaRequest(), (error, response) => {
  if (error) throw error;
  const schema = JSON.parse(response.getSchema());
  process.stdout.write(JSON.stringify({ name: schema.name, version: schema.version, resources: Object.keys(schema.resources).length }));
  client.close();
});
`,
      );
      const schema = command(process.execPath, ['schema.ts'], { env: { PATH }, cwd: app });
      expect(await schema.exit()).toBe(0);
      expect(JSON.parse(schema.output())).toEqual({ name: 'gatehouse', version: pkg.version, resources: 8 });
      const file = JSON.parse(await readFile(join(app, 'node_modules/gatehouse/dist/provider/schema.json'), 'utf8')) as { version: string };
      expect(file.version).toBe(pkg.version);
    } finally {
      await plugin.stop('SIGTERM');
    }
  }, 60_000);

  it('gives a Pulumi program the resources under gatehouse/pulumi, with their types', async () => {
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] }, files: ['program.ts'] }));
    await writeFile(
      join(app, 'program.ts'),
      `import * as pulumi from '@pulumi/pulumi';
import { Organization } from 'gatehouse/pulumi';
import { parseObject } from 'gatehouse/api';
import { AdminClient } from 'gatehouse/client';

const registered: { type: string; name: string; provider: string }[] = [];
await pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      registered.push({ type: args.type, name: args.name, provider: String(args.inputs.__provider) });
      return { id: \`\${args.inputs.namespace}/\${args.inputs.name}\`, state: { ...args.inputs, issuer: \`https://id.example/\${args.inputs.namespace}/\${args.inputs.name}\` } };
    },
    call: () => ({}),
  },
  'package-check',
  'dev',
);
const forge = new Organization('forge-supplies', {
  namespace: 'blixit-partners',
  spec: { displayName: 'Forge Supplies', contract: { id: 'BLX-2025-087', partnerType: 'supplier', owner: 'tom.berg@blixit.example', endsAt: '2027-12-31T23:59:59Z' } },
});
const issuer: string = await new Promise((done) => forge.issuer.apply(done));
let refusal = '';
try {
  parseObject({ apiVersion: 'gatehouse.dev/v1alpha1', kind: 'Organization', metadata: { name: 'x', namespace: 'y' }, spec: {} });
} catch (error) {
  refusal = (error as Error).message;
}
process.stdout.write(JSON.stringify({ issuer, registered, refusal, client: typeof AdminClient }));
`,
    );
    const program = command(process.execPath, ['program.ts'], { env: { PATH }, cwd: app });
    expect(await program.exit()).toBe(0);
    const result = JSON.parse(program.output()) as { issuer: string; registered: { type: string; name: string; provider: string }[]; refusal: string; client: string };
    expect(result.issuer).toBe('https://id.example/blixit-partners/forge-supplies');
    expect(result.registered).toEqual([{ type: 'pulumi-nodejs:dynamic/gatehouse:Organization', name: 'forge-supplies', provider: expect.stringContaining('node_modules/gatehouse/dist/provider/logic.js') }]);
    expect(result.refusal).toMatch(/Organization y\/x.*spec\.displayName/s);
    expect(result.client).toBe('function');

    // The exports' "types" conditions: the same program type-checks against the installed package.
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app }).catch((error: { stdout: string }) => {
      throw new Error(`the program does not type-check against the installed package:\n${error.stdout}`);
    });
  }, 120_000);
});
