import { X509Certificate } from 'node:crypto';
import type { AnyObject, Condition, IdPConnectionObject } from '../../api/index.ts';
import { UpstreamError } from './upstreams/upstream.ts';
import type { IdpDescriptor } from './upstreams/saml.ts';
import type { UpstreamSecrets } from './secrets.ts';

/**
 * The condition type the server publishes on an IdPConnection. Not `Ready`: the controller
 * owns `Ready` (it reports whether *it* applied the declaration, and replaces the whole
 * status when it does), so a server-computed `Ready` would be overwritten on its next pass
 * and would flap between the two writers. `ConnectionReady` answers a different question —
 * can this connection sign anybody in right now — and is computed on every read.
 */
export const CONNECTION_READY = 'ConnectionReady';

export interface ConnectionVerdict {
  ready: boolean;
  /** `Ready` when it can work; `Pending` while something referenced has not arrived; `Invalid` when what is there cannot work. */
  reason: 'Ready' | 'Pending' | 'Invalid';
  message: string;
}

export interface ReadinessDeps {
  secrets: Pick<UpstreamSecrets, 'describe'>;
  /** The IdP as the broker would use it (parses inline metadata, fetches and caches `metadataUrl`). */
  samlIdp(connection: IdPConnectionObject): Promise<IdpDescriptor>;
  now(): number;
}

const ready = (message: string): ConnectionVerdict => ({ ready: true, reason: 'Ready', message });
const pending = (message: string): ConnectionVerdict => ({ ready: false, reason: 'Pending', message });
const invalid = (message: string): ConnectionVerdict => ({ ready: false, reason: 'Invalid', message });

async function oidcVerdict(namespace: string, connection: IdPConnectionObject, deps: ReadinessDeps): Promise<ConnectionVerdict> {
  const ref = connection.spec.oidc?.clientSecretRef;
  if (!ref) return ready(`public client ${connection.spec.oidc?.clientId ?? ''} of ${connection.spec.oidc?.issuer ?? 'the issuer'} (no client secret declared)`);
  const where = `PUT /admin/v1/namespaces/${namespace}/secrets/${ref.name}`;
  let described: Awaited<ReturnType<UpstreamSecrets['describe']>>;
  try {
    described = await deps.secrets.describe(namespace, ref.name);
  } catch {
    // Sealed under another key, or damaged: say so without anything of its content.
    return invalid(`the client secret ${ref.name} cannot be opened with this server's key; deliver it again (${where})`);
  }
  if (!described) return pending(`waiting for the client secret ${ref.name} (key ${ref.key}); deliver it with ${where}`);
  if (!described.keys.includes(ref.key)) return pending(`the secret ${ref.name} has no key ${ref.key} (it has ${described.keys.join(', ')}); deliver it with ${where}`);
  return ready(`client secret ${ref.name} (key ${ref.key}) delivered at ${described.updatedAt}`);
}

function certificateProblem(pem: string, now: number): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return 'a signing certificate is not a parsable X.509 certificate';
  }
  if (Date.parse(cert.validTo) <= now) return `the signing certificate ${cert.subject.replace(/\n/g, ', ')} expired at ${new Date(cert.validTo).toISOString()}`;
  if (Date.parse(cert.validFrom) > now) return `the signing certificate ${cert.subject.replace(/\n/g, ', ')} is not valid before ${new Date(cert.validFrom).toISOString()}`;
  return undefined;
}

async function samlVerdict(connection: IdPConnectionObject, deps: ReadinessDeps): Promise<ConnectionVerdict> {
  let idp: IdpDescriptor;
  try {
    idp = await deps.samlIdp(connection);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return error.reason === 'metadata-unreachable' ? pending(error.message) : invalid(error.message);
  }
  const problems = idp.certificates.map((c) => certificateProblem(c, deps.now()));
  // One good certificate is enough to verify responses (IdPs publish the next one ahead of a rollover).
  if (problems.every((p) => p !== undefined)) return invalid(problems.join('; '));
  return ready(`IdP ${idp.entityId}: single sign-on at ${idp.ssoUrl}, ${idp.certificates.length - problems.filter(Boolean).length} valid signing certificate(s)`);
}

/** Whether a connection can sign anybody in now: its secret delivered (OIDC), its metadata and certificate usable (SAML). */
export async function connectionVerdict(namespace: string, connection: IdPConnectionObject, deps: ReadinessDeps): Promise<ConnectionVerdict> {
  switch (connection.spec.type) {
    case 'oidc':
      return oidcVerdict(namespace, connection, deps);
    case 'saml':
      return samlVerdict(connection, deps);
    default:
      return ready('users sign in with passwords kept by Gatehouse');
  }
}

/**
 * Adds (or refreshes) the `ConnectionReady` condition of an IdPConnection as presented by
 * the admin API. `lastTransitionTime` is kept from the stored condition while the verdict
 * stays the same (a controller echoing the status back stores it), as `metav1.Condition` wants.
 */
export async function withConnectionStatus(object: AnyObject, deps: ReadinessDeps): Promise<AnyObject> {
  if (object.kind !== 'IdPConnection') return object;
  const verdict = await connectionVerdict(object.metadata.namespace ?? 'default', object, deps);
  const status = (object as { status?: { conditions?: Condition[] } }).status ?? {};
  const previous = status.conditions?.find((c) => c.type === CONNECTION_READY);
  const statusValue = verdict.ready ? 'True' : 'False';
  const generation = object.metadata.generation;
  const condition: Condition = {
    type: CONNECTION_READY,
    status: statusValue,
    reason: verdict.reason,
    message: verdict.message.length > 2000 ? `${verdict.message.slice(0, 1997)}...` : verdict.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: previous && previous.status === statusValue ? previous.lastTransitionTime : new Date(deps.now()).toISOString(),
  };
  const kept = (status.conditions ?? []).filter((c) => c.type !== CONNECTION_READY);
  return { ...object, status: { ...status, conditions: [...kept, condition] } } as AnyObject;
}
