import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

/**
 * The parts of the Kubernetes API the controller uses, over plain HTTP, as documented in
 * https://kubernetes.io/docs/reference/using-api/api-concepts/: list and watch with
 * resourceVersion (NDJSON events, bookmarks, 410 Gone once a version is compacted), the status
 * subresource, JSON merge patch, optimistic concurrency on PUT, finalizers with
 * deletionTimestamp, and generation bumped only by spec changes. Any group and resource is
 * stored generically (custom resources, Leases, Events, Secrets). Secrets get `stringData`
 * folded into base64 `data` and type `Opaque` by default; deleting an object deletes the
 * objects whose every ownerReference pointed at it (the garbage collector, in background mode).
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    [key: string]: unknown;
  };
  spec?: unknown;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

interface WatchEvent {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  resource: string;
  namespace: string | undefined;
  res: ServerResponse;
}

export interface FakeKube {
  url: string;
  /** A kubeconfig for @kubernetes/client-node pointing here. */
  kubeconfig: string;
  /** Requests received, as `METHOD path`, for assertions on what the controller did. */
  requests: string[];
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string): KubeObject[];
  create(resource: string, object: KubeObject): KubeObject;
  update(resource: string, object: KubeObject): KubeObject;
  remove(resource: string, namespace: string, name: string): void;
  /** Answers 403 Forbidden, as RBAC would, to requests matching `method` and `path` until the returned function is called. */
  forbid(method: string, path: RegExp): () => void;
  /** Forgets history older than now, and ends every watch: clients resuming get 410 Gone. */
  compact(): void;
  watchCount(): number;
  close(): Promise<void>;
}

const clone = <T>(v: T): T => structuredClone(v);

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
}

export async function startFakeKube(): Promise<FakeKube> {
  let rv = 1;
  let compactedBefore = 0;
  const objects = new Map<string, KubeObject>(); // resource|ns|name
  const history: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const requests: string[] = [];
  const forbidden = new Set<{ method: string; path: RegExp }>();
  const keyOf = (resource: string, ns: string | undefined, name: string) => `${resource}|${ns ?? ''}|${name}`;

  const emit = (resource: string, type: WatchEvent['type'], object: KubeObject) => {
    const event: WatchEvent = { rv: Number(object.metadata.resourceVersion), resource, type, object: clone(object) };
    history.push(event);
    for (const w of watchers) {
      if (w.resource === resource && (!w.namespace || w.namespace === object.metadata.namespace)) w.res.write(`${JSON.stringify({ type, object: event.object })}\n`);
    }
  };

  const store = (resource: string, object: KubeObject, type: WatchEvent['type']) => {
    object.metadata.resourceVersion = String(++rv);
    objects.set(keyOf(resource, object.metadata.namespace, object.metadata.name), object);
    emit(resource, type, object);
    return object;
  };

  const remove = (resource: string, object: KubeObject) => {
    objects.delete(keyOf(resource, object.metadata.namespace, object.metadata.name));
    object.metadata.resourceVersion = String(++rv);
    emit(resource, 'DELETED', object);
    collectGarbage();
  };

  /** Dependents whose owners are all gone are deleted, as the garbage collector does for background propagation. */
  const collectGarbage = () => {
    const live = new Set([...objects.values()].map((o) => o.metadata.uid));
    for (const [key, o] of objects) {
      const owners = o.metadata.ownerReferences ?? [];
      if (owners.length === 0 || owners.some((ref) => live.has(ref.uid)) || !objects.has(key)) continue;
      api.delete(key.split('|')[0]!, o.metadata.namespace, o.metadata.name);
    }
  };

  /** What the API server does to a Secret on every write: write-only stringData becomes base64 data. */
  const normalise = (resource: string, object: KubeObject): KubeObject => {
    if (resource !== 'secrets') return object;
    const { stringData, ...rest } = object as KubeObject & { stringData?: Record<string, string>; data?: Record<string, string> };
    const data = { ...(rest.data ?? {}) };
    for (const [k, v] of Object.entries(stringData ?? {})) data[k] = Buffer.from(v, 'utf8').toString('base64');
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string' || Buffer.from(v, 'base64').toString('base64') !== v) throw Object.assign(new Error(`data[${k}]: illegal base64 data`), { code: 422 });
    }
    return { ...rest, type: (rest.type as string | undefined) ?? 'Opaque', data };
  };

  const api = {
    create(resource: string, input: KubeObject): KubeObject {
      const object = normalise(resource, clone(input));
      if (objects.has(keyOf(resource, object.metadata.namespace, object.metadata.name))) throw Object.assign(new Error('exists'), { code: 409 });
      object.metadata.uid = randomUUID();
      object.metadata.creationTimestamp = new Date().toISOString();
      if (object.spec !== undefined) object.metadata.generation = 1;
      return store(resource, object, 'ADDED');
    },
    /** Replaces an object (status kept unless `subresource`); refuses a stale resourceVersion with 409. */
    update(resource: string, input: KubeObject, subresource?: 'status'): KubeObject {
      const current = objects.get(keyOf(resource, input.metadata.namespace, input.metadata.name));
      if (!current) throw Object.assign(new Error('not found'), { code: 404 });
      if (input.metadata.resourceVersion && input.metadata.resourceVersion !== current.metadata.resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
      let next: KubeObject;
      if (subresource === 'status') {
        next = { ...clone(current), status: clone(input.status ?? {}) };
      } else {
        next = normalise(resource, { ...clone(input), metadata: { ...clone(input.metadata), uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp } });
        if (current.metadata.deletionTimestamp) next.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
        if (current.status !== undefined && resource !== 'leases' && 'spec' in current) next.status = clone(current.status);
        if (current.metadata.generation !== undefined) {
          next.metadata.generation = JSON.stringify(current.spec) === JSON.stringify(next.spec) ? current.metadata.generation : current.metadata.generation + 1;
        }
      }
      if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
        remove(resource, next);
        return next;
      }
      return store(resource, next, 'MODIFIED');
    },
    delete(resource: string, ns: string | undefined, name: string): KubeObject {
      const current = objects.get(keyOf(resource, ns, name));
      if (!current) throw Object.assign(new Error('not found'), { code: 404 });
      if ((current.metadata.finalizers ?? []).length > 0) {
        if (current.metadata.deletionTimestamp) return current;
        return store(resource, { ...clone(current), metadata: { ...clone(current.metadata), deletionTimestamp: new Date().toISOString() } }, 'MODIFIED');
      }
      remove(resource, current);
      return current;
    },
  };

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    return text ? JSON.parse(text) : undefined;
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.searchParams.get('watch') === 'true' ? '?watch' : ''}`);
    // /api/v1/... or /apis/{group}/{version}/... then [namespaces/{ns}/]{resource}[/{name}[/status]]
    const parts = url.pathname.split('/').filter(Boolean);
    const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
    let ns: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      ns = rest[1];
      rest.splice(0, 2);
    }
    const [resource, name, sub] = rest as [string, string | undefined, string | undefined];
    for (const rule of forbidden) {
      if (rule.method === req.method && rule.path.test(url.pathname)) {
        return status(res, 403, 'Forbidden', `${resource} is forbidden: User "system:serviceaccount:test:fake" cannot ${req.method!.toLowerCase()} resource "${resource}" in the namespace "${ns ?? ''}"`);
      }
    }
    try {
      if (!resource) return status(res, 404, 'NotFound', 'no such path');
      if (req.method === 'GET' && !name && url.searchParams.get('watch') === 'true') {
        const from = Number(url.searchParams.get('resourceVersion') ?? '0');
        if (from && from < compactedBefore) {
          // As the API server does for a compacted version: an ERROR event carrying a 410 Status, then the end of the stream.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from}` } })}\n`);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        const watcher: Watcher = { resource, namespace: ns, res };
        for (const e of history) {
          if (e.rv > from && e.resource === resource && (!ns || e.object.metadata.namespace === ns)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
        }
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { resourceVersion: String(rv) } } })}\n`);
        watchers.add(watcher);
        // The request's own 'close' fires once its (empty) body is read; the response's fires on disconnect.
        res.on('close', () => watchers.delete(watcher));
        return;
      }
      if (req.method === 'GET' && !name) {
        const items = [...objects.entries()].filter(([k]) => k.startsWith(ns ? `${resource}|${ns}|` : `${resource}|`)).map(([, o]) => o);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items }));
        return;
      }
      if (req.method === 'POST' && !name) {
        const body = (await readBody(req)) as KubeObject;
        body.metadata.namespace ??= ns;
        const created = api.create(resource, body);
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(created));
        return;
      }
      const current = name ? objects.get(keyOf(resource, ns, name)) : undefined;
      if (!current) return status(res, 404, 'NotFound', `${resource} "${name}" not found`);
      let result: KubeObject = current;
      if (req.method === 'PUT') {
        result = api.update(resource, (await readBody(req)) as KubeObject, sub === 'status' ? 'status' : undefined);
      } else if (req.method === 'PATCH') {
        const type = req.headers['content-type'] ?? '';
        if (!type.startsWith('application/merge-patch+json')) return status(res, 415, 'UnsupportedMediaType', `unsupported patch type ${type}`);
        const patch = (await readBody(req)) as Record<string, unknown>;
        const merged = mergePatch(clone(current), sub === 'status' ? { status: patch.status } : { ...patch, status: undefined }) as KubeObject;
        if (sub !== 'status' && current.status !== undefined) merged.status = clone(current.status);
        result = api.update(resource, merged, sub === 'status' ? 'status' : undefined);
      } else if (req.method === 'DELETE') {
        result = api.delete(resource, ns, name!);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    } catch (error) {
      const code = (error as { code?: number }).code ?? 500;
      status(res, code, code === 409 ? 'Conflict' : code === 404 ? 'NotFound' : code === 422 ? 'Invalid' : 'InternalError', String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token: 'fake-token' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
    'current-context': 'fake',
  });
  return {
    url,
    kubeconfig,
    requests,
    get: (resource, namespace, name) => clone(objects.get(keyOf(resource, namespace, name))),
    list: (resource) => [...objects.entries()].filter(([k]) => k.startsWith(`${resource}|`)).map(([, o]) => clone(o)),
    create: (resource, object) => clone(api.create(resource, object)),
    update: (resource, object) => clone(api.update(resource, object)),
    remove: (resource, namespace, name) => void api.delete(resource, namespace, name),
    forbid(method, path) {
      const rule = { method, path };
      forbidden.add(rule);
      return () => void forbidden.delete(rule);
    },
    compact() {
      compactedBefore = rv + 1;
      history.length = 0;
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    watchCount: () => watchers.size,
    async close() {
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
