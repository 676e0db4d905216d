import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { API_GROUP, clientIdFor, type AnyObject } from '../../api/index.ts';
import type { AdminClient } from '../../client/admin-client.ts';
import type { Readiness } from '../conditions.ts';
import type { ObjectOutcome } from '../pass-report.ts';
import type { CustomResource } from './source.ts';

/** Overrides the name of the Secret a Client's credentials are delivered to. */
export const SECRET_NAME_ANNOTATION = 'gatehouse.dev/secret-name';
/** On the Secret: the Client resource it belongs to (kubectl get secrets -l gatehouse.dev/client=…). */
export const CLIENT_LABEL = 'gatehouse.dev/client';
/**
 * On the Secret: when the server's Client was created. A different value means the Client was
 * deleted and re-created in the server meanwhile, which forgets its secret: the Secret is stale.
 */
export const CLIENT_CREATED_ANNOTATION = 'gatehouse.dev/client-created';
export const SECRET_KEYS = { clientId: 'client_id', clientSecret: 'client_secret', issuer: 'issuer' } as const;

export const defaultSecretName = (clientName: string) => `${clientName}-gatehouse-client`;

/** A DNS subdomain, what Kubernetes accepts as a Secret name. */
const SECRET_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const CONFIDENTIAL = new Set(['web', 'm2m']);

export interface Delivery {
  /** Replaces the resource's Ready verdict when the credentials are not in place. */
  readiness?: Readiness;
  /** Status fields to set (a string) or remove (null); absent keys are left as they are. */
  outputs: Record<string, string | null>;
  /** Something worth a Normal Event: a secret was rotated into a Secret. Names only, never the secret. */
  notice?: { reason: string; message: string };
}

export interface ClientSecretDeliveryOptions {
  core: CoreV1Api;
  admin: AdminClient;
  /** This controller's identity, recorded as the rotation's provenance. */
  owner: string;
}

type RotationReason = 'secret-missing' | 'client-recreated' | 'owner-changed';

const describeRotation: Record<RotationReason, string> = {
  'secret-missing': 'the Secret was missing or held no client_secret',
  'client-recreated': 'the Client was (re)created in the server, which has no earlier secret',
  'owner-changed': 'the Secret belonged to an earlier Client resource of the same name',
};

const statusCode = (error: unknown): number | undefined => (error as { code?: number }).code;

/** A Secret by name, or undefined when there is none (any other failure is thrown). */
export async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
}
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const fromB64 = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text, 'base64').toString('utf8'));

/**
 * Delivers confidential clients' secrets into Kubernetes Secrets, level-triggered: a Secret in
 * place is never rotated, so passes, restarts and re-lists cost reads only. A missing Secret is
 * first created without the secret (reserving the name and proving the controller may write
 * it), and only then is the secret rotated and written: a controller that cannot store a secret
 * never invalidates the one in use. The server shows a rotated secret exactly once, so it lives
 * only in this function's locals and the Secret; messages name objects, never carry values.
 */
export class ClientSecretDelivery {
  private readonly core: CoreV1Api;
  private readonly admin: AdminClient;
  private readonly owner: string;

  constructor(options: ClientSecretDeliveryOptions) {
    this.core = options.core;
    this.admin = options.admin;
    this.owner = options.owner;
  }

  /** Brings a Client resource's Secret in line with the server's Client, which the pass left Ready. */
  async deliver(cr: CustomResource, server: AnyObject, outcome: ObjectOutcome): Promise<Delivery> {
    const namespace = cr.metadata.namespace ?? 'default';
    const label = `Client ${namespace}/${cr.metadata.name}`;
    const type = (server.spec as { type?: string }).type ?? '';
    const previous = typeof cr.status?.secretName === 'string' ? cr.status.secretName : undefined;
    let secretName: string | undefined;
    try {
      if (!CONFIDENTIAL.has(type)) {
        // A public client (PKCE, no secret): a Secret delivered while it was confidential holds a credential that no longer applies.
        if (previous) await this.removeOwn(cr, previous);
        return { outputs: previous ? { secretName: null } : {} };
      }
      const name = cr.metadata.annotations?.[SECRET_NAME_ANNOTATION] ?? defaultSecretName(cr.metadata.name);
      if (!SECRET_NAME.test(name)) {
        const where = cr.metadata.annotations?.[SECRET_NAME_ANNOTATION] ? `metadata.annotations["${SECRET_NAME_ANNOTATION}"]` : `the default Secret name (${SECRET_NAME_ANNOTATION} can set a shorter one)`;
        return { readiness: { ready: false, reason: 'InvalidSpec', message: `${label}: ${where}: "${name}" is not a valid Secret name (lowercase letters, digits, '-' and '.', at most 253)` }, outputs: {} };
      }
      secretName = name;
      const delivered = await this.ensure(cr, server, outcome, name, label);
      if ('readiness' in delivered) return { readiness: delivered.readiness, outputs: {} };
      // Renamed through the annotation: the old Secret's secret was just superseded.
      if (previous && previous !== name) await this.removeOwn(cr, previous);
      return {
        outputs: { secretName: name },
        ...(delivered.rotated ? { notice: { reason: 'SecretRotated', message: `rotated the client secret of ${label} into Secret ${namespace}/${name}: ${describeRotation[delivered.rotated]}` } } : {}),
      };
    } catch (error) {
      const where = secretName ? `Secret ${namespace}/${secretName}` : 'its Secret';
      return { readiness: { ready: false, reason: 'SecretFailed', message: `${label}: cannot deliver the client secret to ${where}: ${describe(error)}` }, outputs: {} };
    }
  }

  private async ensure(cr: CustomResource, server: AnyObject, outcome: ObjectOutcome, name: string, label: string): Promise<{ rotated?: RotationReason } | { readiness: Readiness }> {
    const namespace = cr.metadata.namespace ?? 'default';
    const conflict = (): { readiness: Readiness } => ({
      readiness: {
        ready: false,
        reason: 'SecretConflict',
        message: `${label}: Secret ${namespace}/${name} already exists and does not belong to this Client (no ownerReference to it); delete it, or choose another name with the ${SECRET_NAME_ANNOTATION} annotation`,
      },
    });
    const status = (server.status ?? {}) as { clientId?: string; issuer?: string };
    const clientId = status.clientId ?? clientIdFor(namespace, cr.metadata.name);
    const issuer = status.issuer ?? '';
    const created = server.metadata.creationTimestamp;

    let secret = await readSecret(this.core, namespace, name);
    if (secret && !belongsTo(secret, cr)) return conflict();
    if (!secret) {
      try {
        secret = await this.core.createNamespacedSecret({ namespace, body: this.shape(cr, name, created, { client_id: b64(clientId), issuer: b64(issuer) }) });
      } catch (error) {
        if (statusCode(error) !== 409) throw error;
        // Created by someone else since the read: decide on what is there now.
        secret = await readSecret(this.core, namespace, name);
        if (!secret || !belongsTo(secret, cr)) return conflict();
      }
    }

    const reason = rotationReason(secret, cr, created, outcome);
    let clientSecret = secret.data?.[SECRET_KEYS.clientSecret];
    if (reason) {
      const rotated = await this.admin.rotateClientSecret(namespace, cr.metadata.name, { source: 'kubernetes', reason, controller: this.owner, secret: `${namespace}/${name}` });
      clientSecret = b64(rotated.clientSecret);
    }
    const data = { [SECRET_KEYS.clientId]: b64(clientId), [SECRET_KEYS.clientSecret]: clientSecret!, [SECRET_KEYS.issuer]: b64(issuer) };
    const desired = keepOthers(secret, this.shape(cr, name, created, data));
    if (!reason && sameSecret(secret, desired)) return {};
    await this.replace(secret, desired, cr);
    return reason ? { rotated: reason } : {};
  }

  /** Replaces the Secret with optimistic concurrency, re-reading after a conflict; a rotated secret must not be dropped for a stale version. */
  private async replace(current: V1Secret, desired: V1Secret, cr: CustomResource): Promise<void> {
    const namespace = desired.metadata!.namespace!;
    const name = desired.metadata!.name!;
    let resourceVersion = current.metadata?.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      try {
        if (resourceVersion === undefined) await this.core.createNamespacedSecret({ namespace, body: desired });
        else await this.core.replaceNamespacedSecret({ namespace, name, body: { ...desired, metadata: { ...desired.metadata, resourceVersion } } });
        return;
      } catch (error) {
        const code = statusCode(error);
        if ((code !== 409 && code !== 404) || attempt >= 3) throw error;
        const now = await readSecret(this.core, namespace, name);
        if (now && !belongsTo(now, cr)) throw error;
        resourceVersion = now?.metadata?.resourceVersion;
      }
    }
  }

  /** Deletes a Secret this Client's resource owns; anyone else's is left alone. */
  private async removeOwn(cr: CustomResource, name: string): Promise<void> {
    const namespace = cr.metadata.namespace ?? 'default';
    const secret = await readSecret(this.core, namespace, name);
    if (!secret || !belongsTo(secret, cr)) return;
    try {
      await this.core.deleteNamespacedSecret({ namespace, name });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  private shape(cr: CustomResource, name: string, created: string | undefined, data: Record<string, string>): V1Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name,
        namespace: cr.metadata.namespace ?? 'default',
        labels: { 'app.kubernetes.io/managed-by': 'gatehouse-controller', [CLIENT_LABEL]: cr.metadata.name },
        ...(created ? { annotations: { [CLIENT_CREATED_ANNOTATION]: created } } : {}),
        // No blockOwnerDeletion: setting it needs delete rights on the Client (OwnerReferencesPermissionEnforcement), and nothing here needs foreground deletion.
        ownerReferences: [{ apiVersion: cr.apiVersion ?? `${API_GROUP}/v1alpha1`, kind: 'Client', name: cr.metadata.name, uid: cr.metadata.uid ?? '', controller: true }],
      },
      data,
    };
  }
}

/** A Secret is this Client's when an ownerReference names a Client of the same name (any uid: an earlier incarnation's Secret is still ours to replace). */
function belongsTo(secret: V1Secret, cr: CustomResource): boolean {
  return (secret.metadata?.ownerReferences ?? []).some((o) => o.kind === 'Client' && o.apiVersion.startsWith(`${API_GROUP}/`) && o.name === cr.metadata.name);
}

function rotationReason(secret: V1Secret, cr: CustomResource, created: string | undefined, outcome: ObjectOutcome): RotationReason | undefined {
  if (!fromB64(secret.data?.[SECRET_KEYS.clientSecret])) return 'secret-missing';
  if (!(secret.metadata?.ownerReferences ?? []).some((o) => o.uid === cr.metadata.uid)) return 'owner-changed';
  const recorded = secret.metadata?.annotations?.[CLIENT_CREATED_ANNOTATION];
  if (outcome === 'created' || (recorded !== undefined && created !== undefined && recorded !== created)) return 'client-recreated';
  return undefined;
}

/** Equal in what the controller sets; labels and annotations others add are not its concern. */
function sameSecret(current: V1Secret, desired: V1Secret): boolean {
  const pick = (s: V1Secret) =>
    JSON.stringify({
      data: Object.fromEntries(Object.values(SECRET_KEYS).map((k) => [k, s.data?.[k] ?? null])),
      labels: [CLIENT_LABEL, 'app.kubernetes.io/managed-by'].map((k) => s.metadata?.labels?.[k] ?? null),
      created: s.metadata?.annotations?.[CLIENT_CREATED_ANNOTATION] ?? null,
      owners: (s.metadata?.ownerReferences ?? []).map((o) => `${o.kind}/${o.name}/${o.uid}`),
    });
  return pick(current) === pick(desired);
}

/** What others added to the Secret (keys, labels, annotations) survives the controller's writes. */
function keepOthers(current: V1Secret, desired: V1Secret): V1Secret {
  const metadata = desired.metadata!;
  return {
    ...desired,
    metadata: {
      ...metadata,
      labels: { ...(current.metadata?.labels ?? {}), ...(metadata.labels ?? {}) },
      annotations: { ...(current.metadata?.annotations ?? {}), ...(metadata.annotations ?? {}) },
    },
    data: { ...(current.data ?? {}), ...(desired.data ?? {}) },
  };
}

/**
 * An error for a status message or Event: the HTTP code and the API's own reason and message
 * (e.g. RBAC's "cannot create resource secrets"), never the client's stringified exception,
 * which embeds the response body.
 */
function describe(error: unknown): string {
  const code = statusCode(error);
  const body = (error as { body?: unknown }).body;
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  const detail = parsed && typeof parsed === 'object' ? (parsed as { reason?: unknown; message?: unknown }) : undefined;
  if (typeof code === 'number' && code >= 100 && error instanceof Error && error.name !== 'AdminApiError') {
    const reason = typeof detail?.reason === 'string' ? ` ${detail.reason}` : '';
    const message = typeof detail?.message === 'string' ? `: ${detail.message.slice(0, 300)}` : '';
    return `Kubernetes API answered HTTP ${code}${reason}${message}`;
  }
  // AdminApiError messages are the server's problem detail (no secret ever); network errors name the endpoint.
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}

export { describe as describeError };

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
