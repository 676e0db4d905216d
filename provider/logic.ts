/**
 * What the Gatehouse Pulumi provider does for each kind — check, diff, create, read, update,
 * delete — with no dependency on the Pulumi SDK, so the same functions can back the dynamic
 * provider today and a native provider (`@pulumi/pulumi/provider` `main()` + schema.json) later.
 */
import { GROUP_VERSION, dnsLabel, formatPath, kindByName, zodErrors, type AnyObject, type KindName } from '../api/index.ts';
import { AdminApiError, AdminClient } from '../client/admin-client.ts';

/** The string a Pulumi engine sends in place of a value not known until apply (previews). */
export const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

/** Properties a resource is declared with. `name` defaults to the Pulumi resource name in the resource classes. */
export interface ObjectInputs {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  spec: Record<string, unknown>;
  /** Recorded with every change in the audit log (`source`, `stack`, `project`, `update`); never diffed. */
  provenance?: Record<string, string>;
  /** Client only: change it to have a new client secret generated. */
  rotateSecretTrigger?: string;
}

/** Properties kept in the Pulumi state: the inputs as the server holds them, plus computed outputs. */
export interface ObjectOutputs extends ObjectInputs {
  generation?: number;
  /** Organization, Workspace and Client: the issuer URL their tokens carry. */
  issuer?: string;
  /** Client: the OAuth client_id. */
  clientId?: string;
  /** Confidential (web, m2m) Client: the secret, returned once by the server; stored only as a Pulumi secret. */
  clientSecret?: string;
}

export interface CheckFailure {
  property: string;
  reason: string;
}
export interface CheckResult {
  inputs: ObjectInputs;
  failures: CheckFailure[];
}
export interface DiffResult {
  changes: boolean;
  replaces: string[];
  /** Set when the replacement keeps the same namespace/name, which the old and new resource cannot share. */
  deleteBeforeReplace: boolean;
}
export interface CreateResult {
  id: string;
  outs: ObjectOutputs;
}
export interface ReadResult {
  id?: string;
  props?: ObjectOutputs;
  inputs?: ObjectInputs;
}

/** Kinds whose `spec.organizationRef` names their organization; moving one to another organization is a replacement. */
export const OWNED_BY_ORGANIZATION: ReadonlySet<KindName> = new Set(['IdPConnection', 'Client', 'ClaimMapping', 'AccessPolicy', 'User']);

export const resourceId = (namespace: string, name: string) => `${namespace}/${name}`;

/** Splits a resource id (also the `import` id): `namespace/name`. */
export function parseId(id: string): { namespace: string; name: string } {
  const parts = id.split('/');
  if (parts.length !== 2 || !dnsLabel.safeParse(parts[0]).success || !dnsLabel.safeParse(parts[1]).success) {
    throw new Error(`"${id}" is not a Gatehouse resource id: expected "namespace/name", both DNS labels`);
  }
  return { namespace: parts[0]!, name: parts[1]! };
}

function toObject(kind: KindName, inputs: Partial<ObjectInputs>): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: inputs.name, namespace: inputs.namespace };
  if (inputs.labels !== undefined) metadata.labels = inputs.labels;
  if (inputs.annotations !== undefined) metadata.annotations = inputs.annotations;
  return { apiVersion: GROUP_VERSION, kind, metadata, spec: inputs.spec };
}

/** Field paths of the object back to resource property paths (`metadata.name` → `name`). */
function propertyPath(path: string): string {
  return path.replace(/^metadata\./, '');
}

function unknownPaths(value: unknown, path: PropertyKey[] = []): string[] {
  if (value === UNKNOWN) return [formatPath(path)];
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownPaths(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => unknownPaths(v, [...path, k]));
  return [];
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

/**
 * Validates inputs with the kind's api/ schema, reporting each bad field by its property path
 * (`spec.contract.endsAt`), and returns them with the schema's defaults applied so that a plan
 * compares like with like. Values unknown during a preview are not judged.
 */
export function check(kind: KindName, news: Partial<ObjectInputs>): CheckResult {
  const def = kindByName(kind);
  if (!def) throw new Error(`unknown kind ${kind}`);
  const object = toObject(kind, news);
  const unknown = unknownPaths(object);
  const result = def.schema.safeParse(object);
  const failures = result.success
    ? []
    : zodErrors(result.error)
        .filter((e) => !unknown.some((u) => under(e.path, u) || under(u, e.path)))
        .map((e) => ({ property: propertyPath(e.path) || 'spec', reason: e.message }));
  // Directory mode defaults the namespace; a Pulumi resource must say which workspace it belongs to.
  if (news.namespace === undefined) failures.unshift({ property: 'namespace', reason: 'required' });
  if (!result.success || unknown.length > 0 || failures.length > 0) return { inputs: news as ObjectInputs, failures };
  const parsed = result.data as AnyObject;
  return { inputs: { ...(news as ObjectInputs), spec: parsed.spec as Record<string, unknown> }, failures: [] };
}

/** JSON with object keys sorted, so that key order never reads as a change. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined) => same(a ?? {}, b ?? {});

/**
 * Namespace, name and the owning organization identify an object, so changing them replaces it;
 * everything else is updated in place. The provenance never counts as a change.
 */
export function diff(kind: KindName, olds: Partial<ObjectOutputs>, news: Partial<ObjectInputs>): DiffResult {
  const replaces: string[] = [];
  if (!same(olds.namespace, news.namespace)) replaces.push('namespace');
  if (!same(olds.name, news.name)) replaces.push('name');
  if (OWNED_BY_ORGANIZATION.has(kind) && !same(olds.spec?.organizationRef, news.spec?.organizationRef)) replaces.push('spec.organizationRef');
  const changes = replaces.length > 0 || !sameMap(olds.labels, news.labels) || !sameMap(olds.annotations, news.annotations) || !same(olds.spec, news.spec) || (kind === 'Client' && !same(olds.rotateSecretTrigger, news.rotateSecretTrigger));
  const sameIdentity = !replaces.includes('namespace') && !replaces.includes('name');
  return { changes, replaces, deleteBeforeReplace: replaces.length > 0 && sameIdentity };
}

const isConfidential = (kind: KindName, spec: Record<string, unknown> | undefined) => kind === 'Client' && (spec?.type === 'web' || spec?.type === 'm2m');

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function inputsOf(object: AnyObject, carried: { rotateSecretTrigger?: string | undefined }): ObjectInputs {
  return withoutUndefined({
    namespace: object.metadata.namespace ?? 'default',
    name: object.metadata.name,
    labels: object.metadata.labels,
    annotations: object.metadata.annotations,
    spec: object.spec as Record<string, unknown>,
    rotateSecretTrigger: carried.rotateSecretTrigger,
  });
}

function outputsOf(object: AnyObject, carried: { provenance?: Record<string, string> | undefined; rotateSecretTrigger?: string | undefined; clientSecret?: string | undefined }): ObjectOutputs {
  const status = (object.status ?? {}) as { issuer?: string; clientId?: string };
  return withoutUndefined({
    ...inputsOf(object, carried),
    provenance: carried.provenance,
    generation: object.metadata.generation,
    issuer: status.issuer,
    clientId: status.clientId,
    clientSecret: isConfidential(object.kind, object.spec as Record<string, unknown>) ? carried.clientSecret : undefined,
  });
}

/**
 * Where the provider finds the server: stack config first (`gatehouse:endpoint`, secret
 * `gatehouse:token`, or `gatehouse:adminToken` as the dynamic provider first named it), then the
 * environment (GATEHOUSE_ENDPOINT, GATEHOUSE_TOKEN or GATEHOUSE_ADMIN_TOKEN).
 */
export interface Connection {
  endpoint?: string | undefined;
  token?: string | undefined;
}

export function resolveConnection(config: (key: string) => string | undefined, env: Record<string, string | undefined>): Connection {
  return {
    endpoint: config('gatehouse:endpoint') ?? env.GATEHOUSE_ENDPOINT,
    token: config('gatehouse:token') ?? config('gatehouse:adminToken') ?? env.GATEHOUSE_TOKEN ?? env.GATEHOUSE_ADMIN_TOKEN,
  };
}

/** A deletion the server refused because other objects still reference the object. */
export class DependantsError extends Error {
  override name = 'DependantsError';
}

/** The operations that reach the server, all through the admin API client the controller also uses. */
export class GatehouseResources {
  private readonly client: AdminClient;

  constructor(client: AdminClient) {
    this.client = client;
  }

  static connect(connection: Connection): GatehouseResources {
    if (!connection.endpoint) {
      throw new Error('no Gatehouse endpoint: set `pulumi config set gatehouse:endpoint https://…` or GATEHOUSE_ENDPOINT');
    }
    if (!connection.token) {
      throw new Error('no Gatehouse admin token: set `pulumi config set --secret gatehouse:adminToken …` or GATEHOUSE_ADMIN_TOKEN');
    }
    return new GatehouseResources(new AdminClient({ endpoint: connection.endpoint, token: connection.token }));
  }

  /** An idempotent upsert: an object that already exists under the same namespace/name is adopted. */
  async create(kind: KindName, inputs: ObjectInputs): Promise<CreateResult> {
    const { outcome, object } = await this.apply(kind, inputs);
    let clientSecret: string | undefined;
    // An adopted client keeps its secret (an application may be using it) unless a rotation is asked for.
    if (isConfidential(kind, object.spec as Record<string, unknown>) && (outcome === 'created' || inputs.rotateSecretTrigger !== undefined)) {
      clientSecret = await this.rotateSecret(inputs);
    }
    return { id: resourceId(inputs.namespace, inputs.name), outs: outputsOf(object, { ...inputs, clientSecret }) };
  }

  /** Refreshes from the server; never rotates the client secret, which the server cannot show again. */
  async read(kind: KindName, id: string, props?: Partial<ObjectOutputs>): Promise<ReadResult> {
    const { namespace, name } = parseId(id);
    const object = await this.client.get(kind, namespace, name);
    if (!object) return {};
    const carried = { provenance: props?.provenance, rotateSecretTrigger: props?.rotateSecretTrigger, clientSecret: props?.clientSecret };
    return { id, props: outputsOf(object, carried), inputs: inputsOf(object, carried) };
  }

  /**
   * Applies the new declaration. A client's secret is generated when it becomes confidential or
   * `rotateSecretTrigger` changes; otherwise it is kept, and a client imported without its secret
   * (which the server never shows again) keeps working with the one its application holds.
   */
  async update(kind: KindName, id: string, olds: Partial<ObjectOutputs>, news: ObjectInputs): Promise<{ outs: ObjectOutputs }> {
    const { namespace, name } = parseId(id);
    if (news.namespace !== namespace || news.name !== name) {
      throw new Error(`${kind} ${id} cannot be renamed in place to ${news.namespace}/${news.name}; the provider replaces it`);
    }
    const { object } = await this.apply(kind, news);
    let clientSecret = olds.clientSecret;
    const wasConfidential = isConfidential(kind, olds.spec);
    if (isConfidential(kind, object.spec as Record<string, unknown>) && (!wasConfidential || olds.rotateSecretTrigger !== news.rotateSecretTrigger)) {
      clientSecret = await this.rotateSecret(news);
    }
    return { outs: outputsOf(object, { ...news, clientSecret }) };
  }

  /**
   * Deletes without cascading: while other objects reference this one the server refuses and
   * names them. Pulumi deletes dependants declared in the same program first, so only
   * dependants the program does not manage stop the deletion.
   */
  async delete(kind: KindName, id: string, props?: Partial<ObjectOutputs>): Promise<void> {
    const { namespace, name } = parseId(id);
    try {
      await this.client.delete(kind, namespace, name, props?.provenance ? { provenance: props.provenance } : {});
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 409) {
        const detail = error.message.replace(/; delete those first or repeat with \?cascade=true$/, '');
        throw new DependantsError(`${detail}. Those objects are not managed by this Pulumi program: delete them, or add them to the program, before deleting ${kind} ${id}`);
      }
      throw error;
    }
  }

  private async apply(kind: KindName, inputs: ObjectInputs) {
    return this.client.apply(toObject(kind, inputs) as unknown as AnyObject, inputs.provenance);
  }

  private async rotateSecret(inputs: ObjectInputs): Promise<string> {
    const path = `/admin/v1/namespaces/${encodeURIComponent(inputs.namespace)}/clients/${encodeURIComponent(inputs.name)}/secret`;
    const result = (await this.client.request('POST', path, undefined, inputs.provenance)) as { clientSecret: string };
    return result.clientSecret;
  }
}
