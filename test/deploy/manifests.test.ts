import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../../api/index.ts';
import { namesOf, readConfig, type Command } from '../../cli/config.ts';
import { CHART_CRD_DIR, checkCrds } from '../../controller/crds/generate.ts';
import { renderChart } from '../support/helm.ts';
import { startPostgres } from '../support/postgres.ts';
import { nodeScript } from '../support/process.ts';

type Obj = Record<string, any>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  securityContext: Obj;
  volumeMounts?: { name: string; mountPath: string }[];
  readinessProbe?: Obj;
  livenessProbe?: Obj;
}

const CHART = 'deploy/helm/gatehouse';
const RELEASE = { release: 'gatehouse', namespace: 'gatehouse-system' };
const read = (path: string) => parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Obj);
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objects: Obj[]) => Object.fromEntries(objects.map((o) => [key(o), o]));
let kustomized: string | undefined;
/**
 * `kubectl kustomize` renders offline; kubectl ≥ 1.21 (kustomize v4+, directories as resources).
 * Rendered once per file (the specs only read deploy/), parsed afresh for each caller.
 */
function kustomize(): Obj[] {
  try {
    kustomized ??= execFileSync('kubectl', ['kustomize', 'deploy/kustomize'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`kubectl kustomize deploy/kustomize failed (kubectl ≥ 1.21 must be on PATH): ${(error as Error).message}`);
  }
  return parseAllDocuments(kustomized).map((d) => d.toJS() as Obj);
}
const helm = (values: Obj = {}) => renderChart(CHART, { ...RELEASE, values });
const deployment = (objects: Obj[], name: string) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
const container = (d: Obj) => d.spec.template.spec.containers[0] as Container;

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfile(): { op: string; arg: string }[] {
  return readFileSync('Dockerfile', 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.trim().split(/\s+/);
      return { op: op!.toUpperCase(), arg: rest.join(' ') };
    });
}
const runtimeStage = () =>
  dockerfile().slice(
    dockerfile()
      .map((i) => i.op)
      .lastIndexOf('FROM'),
  );
const cmd = () => JSON.parse(runtimeStage().find((i) => i.op === 'CMD')!.arg) as string[];
const imageEnv = () =>
  Object.fromEntries(
    runtimeStage()
      .filter((i) => i.op === 'ENV')
      .flatMap((i) => i.arg.split(/\s+/).map((kv) => kv.split('=') as [string, string])),
  );

/** The container's environment as the kubelet would give it, with test values for Secrets and the downward API. */
function environment(c: Container, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...imageEnv() };
  for (const v of c.env) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.secretKeyRef) env[v.name] = secrets[v.valueFrom.secretKeyRef.key] ?? '';
    else if (v.valueFrom?.fieldRef) env[v.name] = `from-${v.valueFrom.fieldRef.fieldPath}`;
  }
  return env;
}

describe('deploy/kustomize and the Helm chart', () => {
  it('render the same objects: helm (secrets.existingSecret) = kubectl kustomize, less the Namespace helm does not create', () => {
    const fromKustomize = kustomize().filter((o) => o.kind !== 'Namespace');
    const fromHelm = helm({ secrets: { existingSecret: 'gatehouse' } });
    expect(Object.keys(byKey(fromHelm)).sort()).toEqual(Object.keys(byKey(fromKustomize)).sort());
    expect(byKey(fromHelm)).toEqual(byKey(fromKustomize));
    expect(
      kustomize()
        .filter((o) => o.kind === 'Namespace')
        .map((o) => o.metadata.name),
    ).toEqual(['gatehouse-system']);
  });

  it('ship the generated CRDs, one per kind, in the chart as well (run `npm run gen:crds` after changing api/)', () => {
    expect(checkCrds(CHART_CRD_DIR)).toEqual({ stale: [], orphaned: [] });
    const crds = helm({ secrets: { existingSecret: 'gatehouse' } }).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.spec.names.plural).sort()).toEqual(KINDS.map((k) => k.plural).sort());
    const [crdKustomization] = read('controller/crds/kustomization.yaml');
    expect([...(crdKustomization!.resources as string[])].sort()).toEqual(
      readdirSync('controller/crds')
        .filter((f) => /^gatehouse\.dev_.*\.yaml$/.test(f))
        .sort(),
    );
  });

  it('creates the Secret from values when no existingSecret is named, and refuses to render without its values', () => {
    const secrets = { databaseUrl: 'postgres://gh:pw@db/gatehouse', secretKey: 'k'.repeat(48), adminToken: 't'.repeat(32) };
    const objects = helm({ secrets });
    const secret = objects.find((o) => o.kind === 'Secret')!;
    expect(secret.metadata).toMatchObject({ name: 'gatehouse', namespace: 'gatehouse-system' });
    expect(secret.stringData).toEqual({ 'database-url': secrets.databaseUrl, 'secret-key': secrets.secretKey, 'admin-token': secrets.adminToken });
    const refs = objects
      .filter((o) => o.kind === 'Deployment')
      .flatMap((d) => container(d).env)
      .flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : []));
    expect(refs.every((r) => r.name === 'gatehouse' && r.key in secret.stringData)).toBe(true);
    expect(helm({ secrets: { existingSecret: 'mine' } }).some((o) => o.kind === 'Secret')).toBe(false);
    expect(() => helm({ secrets: { ...secrets, secretKey: '' } })).toThrow('secrets.secretKey (or secrets.existingSecret) is required: openssl rand -base64 48');
  });

  it('adds a ServiceMonitor on /metrics only when asked', () => {
    expect(helm({ secrets: { existingSecret: 'gatehouse' } }).some((o) => o.kind === 'ServiceMonitor')).toBe(false);
    const monitor = helm({ secrets: { existingSecret: 'gatehouse' }, serviceMonitor: { enabled: true } }).find((o) => o.kind === 'ServiceMonitor')!;
    expect(monitor.spec).toEqual({ selector: { matchLabels: { 'app.kubernetes.io/name': 'gatehouse', 'app.kubernetes.io/component': 'server' } }, endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }] });
  });

  it('serve /metrics on a port of its own, which the Service exposes and the server is told to use', () => {
    for (const objects of [kustomize(), helm({ secrets: { existingSecret: 'gatehouse' } })]) {
      const server = container(deployment(objects, 'gatehouse'));
      const port = server.ports!.find((p) => p.name === 'metrics')!.containerPort;
      expect(server.env!.find((e) => e.name === 'GATEHOUSE_METRICS_PORT')!.value).toBe(String(port));
      expect(server.env!.find((e) => e.name === 'GATEHOUSE_METRICS_HOST')!.value).toBe('0.0.0.0');
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'gatehouse') as unknown as { spec: { ports: { name: string; targetPort: string }[] } };
      expect(service.spec.ports.map((p) => [p.name, p.targetPort])).toEqual([
        ['http', 'http'],
        ['metrics', 'metrics'],
      ]);
    }
  });

  it('probe the server on /readyz and /healthz, and expose it through the Service', () => {
    const objects = kustomize();
    const server = container(deployment(objects, 'gatehouse'));
    expect(server.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(server.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Draining fits in the pod's grace period: the preStop sleep, then the server's own grace, then closing.
    const pod = deployment(objects, 'gatehouse').spec.template.spec;
    const preStop = Number((server as Obj).lifecycle.preStop.exec.command[1]);
    const grace = Number(server.env.find((e) => e.name === 'GATEHOUSE_SHUTDOWN_GRACE_SECONDS')!.value);
    expect(preStop + grace).toBeLessThan(pod.terminationGracePeriodSeconds);
    const service = objects.find((o) => o.kind === 'Service')!;
    expect(service.spec.selector).toEqual(deployment(objects, 'gatehouse').spec.selector.matchLabels);
    // The controller reaches the server through the Service, not a sidecar's loopback.
    expect(container(deployment(objects, 'gatehouse-controller')).env.find((e) => e.name === 'GATEHOUSE_ENDPOINT')!.value).toBe(`http://${service.metadata.name}:${service.spec.ports[0].port}`);
  });

  it('run both as non-root with a read-only root filesystem, no capabilities, and every written path on a volume', () => {
    const [, user] = /^(\d+)(?::\d+)?$/.exec(runtimeStage().find((i) => i.op === 'USER')!.arg)!;
    expect(Number(user)).toBeGreaterThan(0);
    for (const d of kustomize().filter((o) => o.kind === 'Deployment')) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user), seccompProfile: { type: 'RuntimeDefault' } });
      const c = container(d);
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      const mounted = (c.volumeMounts ?? []).map((m) => m.mountPath);
      expect(mounted).toContain('/tmp');
      const dataDir = c.env.find((e) => e.name === 'GATEHOUSE_DATA_DIR')?.value;
      if (dataDir) expect(mounted).toContain(dataDir);
    }
  });

  it('set only variables the configuration declares for the command each container runs, and every required one', () => {
    const secrets = { 'database-url': 'postgres://gh:pw@db/gatehouse', 'secret-key': 'k'.repeat(48), 'admin-token': 't'.repeat(32) };
    const objects = kustomize();
    const commands: [string, Command][] = [
      ['gatehouse', 'serve'],
      ['gatehouse-controller', 'controller'],
    ];
    for (const [name, command] of commands) {
      const c = container(deployment(objects, name));
      const argv = c.command ?? cmd();
      expect(argv.slice(0, 3)).toEqual([...cmd().slice(0, 2), command]);
      for (const v of c.env) expect({ container: name, variable: v.name, declared: namesOf(command).includes(v.name as never) }).toEqual({ container: name, variable: v.name, declared: true });
      expect(() => readConfig(command, environment(c, secrets))).not.toThrow();
    }
    // The bug that stopped every pod: DATABASE_URL without GATEHOUSE_SECRET_KEY.
    const server = container(deployment(objects, 'gatehouse'));
    expect(server.env.map((e) => e.name)).toEqual(expect.arrayContaining(['DATABASE_URL', 'GATEHOUSE_SECRET_KEY', 'GATEHOUSE_ADMIN_TOKEN', 'PUBLIC_URL']));
  });

  it('grant the controller what it uses and no more: Secrets by name only, no CRD writes, the Lease by name', () => {
    const docs = kustomize();
    const role = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'gatehouse-controller')!;
    const rules = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    for (const def of KINDS) {
      expect(rules.some((r) => r.apiGroups.includes('gatehouse.dev') && r.resources.includes(def.plural) && ['list', 'watch', 'patch'].every((v) => r.verbs.includes(v)))).toBe(true);
      expect(rules.some((r) => r.resources.includes(`${def.plural}/status`) && r.verbs.includes('patch'))).toBe(true);
    }
    const everything = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => d.rules as typeof rules);
    // Client secrets: get, create, update and delete, never list or watch (which would read every Secret).
    const secrets = everything.filter((r) => r.resources.includes('secrets'));
    expect(secrets.flatMap((r) => r.verbs).sort()).toEqual(['create', 'delete', 'get', 'update']);
    expect(secrets.every((r) => r.resources.length === 1 && r.apiGroups.join() === '')).toBe(true);
    expect(rules.some((r) => r.resources.includes('secrets'))).toBe(false);
    const bound = docs.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.roleRef.name);
    expect(bound).toEqual(expect.arrayContaining(['gatehouse-controller', 'gatehouse-controller-client-secrets']));
    expect(everything.flatMap((r) => r.resources)).not.toContain('customresourcedefinitions');
    expect(everything.flatMap((r) => r.verbs)).not.toContain('*');
    expect(everything.filter((r) => r.resources.includes('leases') && r.verbs.includes('update'))[0]?.resourceNames).toEqual(['gatehouse-controller']);
    // The server's pods get no API credentials at all.
    expect(deployment(docs, 'gatehouse').spec.template.spec).toMatchObject({ serviceAccountName: 'gatehouse', automountServiceAccountToken: false });
    expect(deployment(docs, 'gatehouse-controller').spec.template.spec.serviceAccountName).toBe('gatehouse-controller');
  });

  it('keep the Argo CD health check for Gatehouse resources beside the manifests', () => {
    const [cm] = read('deploy/kustomize/argocd-health.yaml');
    expect(cm!.data['resource.customizations.health.gatehouse.dev_*']).toContain('c.status == "True"');
  });
});

describe('the Dockerfile', () => {
  it('builds in one stage and runs compiled JavaScript on node:24 slim in another', () => {
    const steps = dockerfile();
    const froms = steps.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms.at(-1)!.arg).toMatch(/^node:24[\w.-]*-slim$/);
    const build = steps
      .slice(0, steps.indexOf(froms.at(-1)!))
      .filter((i) => i.op === 'RUN')
      .map((i) => i.arg)
      .join(' && ');
    expect(build).toMatch(/npm ci\b/);
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm prune --omit=dev|npm ci --omit=dev/);
    expect(cmd()).toEqual(['node', 'dist/bin/gatehouse.js', 'serve']);
    expect(runtimeStage().find((i) => i.op === 'VOLUME')!.arg).toEqual(JSON.stringify([imageEnv().GATEHOUSE_DATA_DIR, '/tmp']).replace(/,/g, ', '));
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'dist', 'data']));
  });
});

// The container's own command and the Deployment's environment, against a real PostgreSQL.
const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

/**
 * The image's /app without a container: the build context (.dockerignore applied) copied to a
 * temp dir, `npm run build` run there as the build stage runs it (node_modules linked in place of
 * `npm ci`), then everything removed that the runtime stage does not COPY --from=build. What is
 * left must run by itself, so a file the build forgets to emit fails here.
 */
async function imageApp(): Promise<{ app: string; script: string }> {
  const root = process.cwd();
  const ignored = readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const globs = ignored
    .filter((p) => p.includes('*'))
    .map(
      (p) =>
        new RegExp(
          `^${p
            .replace(/^\*\*\//, '')
            .replace(/\./g, '\\.')
            .replace(/\*/g, '[^/]*')}$`,
        ),
    );
  const app = await mkdtemp(join(tmpdir(), 'gatehouse-image-app-'));
  await cp(root, app, {
    recursive: true,
    filter: (src) => {
      const rel = relative(root, src);
      return rel === '' || (!ignored.includes(rel.split(sep)[0]!) && !globs.some((g) => g.test(basename(src))));
    },
  });
  await symlink(join(root, 'node_modules'), join(app, 'node_modules'));
  execFileSync('npm', ['run', '-s', 'build'], { cwd: app, stdio: 'inherit', env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}` } });
  const kept = runtimeStage()
    .filter((i) => i.op === 'COPY' && i.arg.startsWith('--from=build'))
    .map((i) => i.arg.split(/\s+/)[1]!.replace(/^\/app\//, ''));
  for (const entry of await readdir(app)) if (!kept.includes(entry)) await rm(join(app, entry), { recursive: true, force: true });
  return { app, script: join(app, cmd()[1]!) };
}

describe('the server as the Deployment runs it', () => {
  let script: string;
  let app: string;
  beforeAll(async () => {
    ({ app, script } = await imageApp());
  }, 240_000);
  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
  });
  const secrets = { 'database-url': '', 'secret-key': randomBytes(48).toString('base64'), 'admin-token': randomBytes(32).toString('base64url') };
  const server = () => container(deployment(kustomize(), 'gatehouse'));
  // Tests listen on loopback and port 0, and the data volume is a temp dir.
  const local = (env: Record<string, string>, dataDir: string) => ({ ...env, HOST: '127.0.0.1', PORT: '0', GATEHOUSE_METRICS_HOST: '127.0.0.1', GATEHOUSE_METRICS_PORT: '0', GATEHOUSE_DATA_DIR: dataDir });

  (postgres ? it : it.skip)('starts on PostgreSQL with the Secret the manifests reference and becomes ready on /readyz', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-volume-'));
    // Trust authentication ignores the password: it is there to prove it is never printed.
    secrets['database-url'] = (await postgres!.createDatabase()).replace('postgres://postgres@', 'postgres://postgres:db-password-never-shown@');
    // Built: /app holds only what the runtime stage copies (no .ts sources to fall back on).
    if (app !== process.cwd()) expect((await readdir(app)).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    const run = nodeScript(script, cmd().slice(2), local(environment(server(), secrets), dataDir));
    try {
      const url = (await run.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 30_000))[1]!;
      const ready = await fetch(`${url}/readyz`);
      expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready', store: 'postgres' } });
      expect((await fetch(`${url}/admin/v1/organizations`, { headers: { authorization: `Bearer ${secrets['admin-token']}` } })).status).toBe(200);
      const metrics = (await run.waitFor(/metrics +(http:\/\/127\.0\.0\.1:\d+\/metrics)/, 5_000))[1]!;
      expect(await (await fetch(metrics)).text()).toContain('gatehouse_tokens_issued_total');
      expect(run.output()).toContain('admin token: from GATEHOUSE_ADMIN_TOKEN');
      for (const value of [secrets['secret-key'], secrets['admin-token'], 'db-password-never-shown']) expect(run.output()).not.toContain(value);
      // Nothing written to the data volume: the store is PostgreSQL and the key comes from the Secret.
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      expect(await run.stop()).toBe(0);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stops at once, naming GATEHOUSE_SECRET_KEY and how to make one, when the Secret lacks it', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-volume-'));
    const env = local(environment(server(), { ...secrets, 'database-url': 'postgres://gatehouse:pw@127.0.0.1:1/gatehouse', 'secret-key': '' }), dataDir);
    const run = nodeScript(script, cmd().slice(2), env);
    expect(await run.exit()).toBe(1);
    expect(run.output()).toContain('GATEHOUSE_SECRET_KEY is not set (it is required with DATABASE_URL): generate one with `openssl rand -base64 48`');
    expect(run.output()).not.toContain('pw@');
    await rm(dataDir, { recursive: true, force: true });
  });
});
