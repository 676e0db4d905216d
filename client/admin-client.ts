import { GROUP_VERSION, kindByName, type AnyObject, type FieldError, type KindName, type SecretDescription } from '../api/index.ts';

/** A refusal or failure of the admin API, carrying its problem+json details. */
export class AdminApiError extends Error {
  readonly status: number;
  readonly errors: FieldError[];
  readonly problem: Record<string, unknown>;
  constructor(status: number, problem: Record<string, unknown>, fallback: string) {
    const detail = typeof problem.detail === 'string' ? problem.detail : fallback;
    super(detail);
    this.name = 'AdminApiError';
    this.status = status;
    this.problem = problem;
    this.errors = Array.isArray(problem.errors) ? (problem.errors as FieldError[]) : [];
  }

  /** Worth retrying: the server is down, overloaded or failed, not refusing the request itself. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface AdminClientOptions {
  endpoint: string;
  token: string;
  /** Recorded in the audit log with every change (e.g. a git commit, a Pulumi stack). */
  provenance?: Record<string, string>;
  /** Attempts for a transient failure (network error, 429, 5xx); every call is idempotent. */
  attempts?: number;
  timeoutMs?: number;
  /** Base of the exponential backoff with full jitter. */
  backoffMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

const secretPath = (namespace: string, name: string) => `/admin/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The one way the controller and the Pulumi provider reach a Gatehouse server. */
export class AdminClient {
  private readonly options: Required<Omit<AdminClientOptions, 'provenance'>> & { provenance?: Record<string, string> };

  constructor(options: AdminClientOptions) {
    this.options = {
      attempts: 5,
      timeoutMs: 10_000,
      backoffMs: 200,
      fetch: globalThis.fetch,
      sleep,
      ...options,
      endpoint: options.endpoint.replace(/\/+$/, ''),
    };
  }

  withProvenance(provenance: Record<string, string>): AdminClient {
    return new AdminClient({ ...this.options, provenance });
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends AnyObject = AnyObject>(kind: KindName, namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.request('GET', objectPath(kind, namespace, name))) as T;
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async list<T extends AnyObject = AnyObject>(kind: KindName, namespace?: string): Promise<T[]> {
    const plural = pluralOf(kind);
    const path = namespace ? `/admin/v1/namespaces/${encodeURIComponent(namespace)}/${plural}` : `/admin/v1/${plural}`;
    return ((await this.request('GET', path)) as { items: T[] }).items;
  }

  /**
   * Creates or replaces an object; applying the same declaration again is `unchanged`. With
   * `dryRun` the server runs its whole admission and answers the outcome without writing anything.
   */
  async apply<T extends AnyObject = AnyObject>(object: AnyObject, provenance?: Record<string, string>, options: { dryRun?: boolean } = {}): Promise<{ outcome: ApplyOutcome; object: T }> {
    const namespace = object.metadata.namespace ?? 'default';
    const body = { apiVersion: GROUP_VERSION, kind: object.kind, metadata: { ...object.metadata, namespace }, spec: object.spec };
    const path = `${objectPath(object.kind, namespace, object.metadata.name)}${options.dryRun ? '?dryRun=All' : ''}`;
    const { value, headers } = await this.requestWithHeaders('PUT', path, body, provenance);
    return { outcome: (headers.get('gatehouse-outcome') ?? 'updated') as ApplyOutcome, object: value as T };
  }

  /**
   * Creates or replaces several objects of one namespace in one transaction, in the order given
   * (`POST …/namespaces/{namespace}/apply`): each is authorised and audited as its own `apply`.
   * All or nothing: when the server refuses one object nothing is written, and the error's
   * `problem.item` is its index. Resolves with one result per object, in order.
   */
  async applyMany<T extends AnyObject = AnyObject>(namespace: string, items: readonly { object: AnyObject; provenance?: Record<string, string> }[], options: { dryRun?: boolean } = {}): Promise<{ outcome: ApplyOutcome; object: T }[]> {
    const body = {
      items: items.map(({ object, provenance }) => ({
        object: { apiVersion: GROUP_VERSION, kind: object.kind, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? namespace }, spec: object.spec },
        ...(provenance ? { provenance } : {}),
      })),
    };
    const path = `/admin/v1/namespaces/${encodeURIComponent(namespace)}/apply${options.dryRun ? '?dryRun=All' : ''}`;
    return ((await this.request('POST', path, body)) as { items: { outcome: ApplyOutcome; object: T }[] }).items;
  }

  /** Deletes an object; resolves to false when it was already gone. */
  async delete(kind: KindName, namespace: string, name: string, options: { cascade?: boolean; provenance?: Record<string, string> } = {}): Promise<boolean> {
    try {
      await this.request('DELETE', `${objectPath(kind, namespace, name)}${options.cascade ? '?cascade=true' : ''}`, undefined, options.provenance);
      return true;
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404) return false;
      throw error;
    }
  }

  async putStatus(kind: KindName, namespace: string, name: string, status: Record<string, unknown>): Promise<AnyObject> {
    return (await this.request('PUT', `${objectPath(kind, namespace, name)}/status`, { status })) as AnyObject;
  }

  /**
   * Replaces the statuses of several objects of one namespace in one transaction
   * (`POST …/namespaces/{namespace}/status`); all or nothing, `problem.item` names the one refused.
   */
  async putStatuses(namespace: string, items: readonly { kind: KindName; name: string; status: Record<string, unknown> }[]): Promise<AnyObject[]> {
    return ((await this.request('POST', `/admin/v1/namespaces/${encodeURIComponent(namespace)}/status`, { items })) as { items: AnyObject[] }).items;
  }

  /**
   * Stores (or replaces) a write-only secret the server reads by reference, such as an
   * upstream IdP's client secret. The server never returns the values.
   */
  async putSecret(namespace: string, name: string, data: Record<string, string>): Promise<SecretDescription> {
    return (await this.request('PUT', secretPath(namespace, name), { data })) as SecretDescription;
  }

  /** What the server holds for a write-only secret (key names, updatedAt, fingerprint), or undefined when it has none. */
  async describeSecret(namespace: string, name: string): Promise<SecretDescription | undefined> {
    try {
      return (await this.request('GET', secretPath(namespace, name))) as SecretDescription;
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Low-level call for routes without a typed method yet. */
  async request(method: string, path: string, body?: unknown, provenance?: Record<string, string>): Promise<unknown> {
    return (await this.requestWithHeaders(method, path, body, provenance)).value;
  }

  private async requestWithHeaders(method: string, path: string, body?: unknown, provenance?: Record<string, string>): Promise<{ value: unknown; headers: Headers }> {
    const { attempts, backoffMs } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body, provenance ?? this.options.provenance);
      } catch (error) {
        if (!(error instanceof AdminApiError) || !error.transient || attempt >= attempts) throw error;
        await this.options.sleep(Math.random() * backoffMs * 2 ** (attempt - 1));
      }
    }
  }

  private async once(method: string, path: string, body: unknown, provenance: Record<string, string> | undefined): Promise<{ value: unknown; headers: Headers }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (provenance) headers['gatehouse-provenance'] = JSON.stringify(provenance);
    let res: Response;
    try {
      res = await this.options.fetch(`${this.options.endpoint}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
      throw new AdminApiError(0, {}, `cannot reach the Gatehouse admin API at ${this.options.endpoint}: ${reason}`);
    }
    const text = await res.text();
    let value: unknown;
    try {
      value = text ? JSON.parse(text) : undefined;
    } catch {
      value = undefined;
    }
    if (!res.ok) {
      const problem = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
      const hint = res.status === 401 ? ' (check the admin token)' : '';
      throw new AdminApiError(res.status, problem, `${method} ${path} failed with HTTP ${res.status}${hint}`);
    }
    return { value, headers: res.headers };
  }

  /**
   * Replaces a confidential (web, m2m) client's secret with a new one, effective at once, and
   * returns it: the only time the server ever shows it, so the caller must store it before
   * anything else can fail. A public client (spa, native) is refused with 409. A retried call
   * rotates again, which is harmless: only the last secret returned is valid.
   */
  async rotateClientSecret(namespace: string, name: string, provenance?: Record<string, string>): Promise<{ clientId: string; clientSecret: string; rotatedAt: string }> {
    return (await this.request('POST', `${objectPath('Client', namespace, name)}/secret`, undefined, provenance)) as { clientId: string; clientSecret: string; rotatedAt: string };
  }
}

function pluralOf(kind: KindName): string {
  const def = kindByName(kind);
  if (!def) throw new Error(`unknown kind ${kind}`);
  return def.plural;
}

function objectPath(kind: KindName, namespace: string, name: string): string {
  return `/admin/v1/namespaces/${encodeURIComponent(namespace)}/${pluralOf(kind)}/${encodeURIComponent(name)}`;
}
