import type { AnyObject } from '../../api/index.ts';
import type { Store } from '../store/index.ts';

/** Adds `status.scim` to an IdPConnection that enables SCIM: when its token was issued, its IdP's last request, requests and errors. */
export async function withScimStatus(object: AnyObject, store: Store): Promise<AnyObject> {
  if (object.kind !== 'IdPConnection' || !object.spec.scim?.enabled) return object;
  const namespace = object.metadata.namespace ?? 'default';
  const token = await store.scim.token(namespace, object.metadata.name);
  const activity = await store.scim.activity(namespace, object.metadata.name);
  const scim = {
    ...(token ? { tokenIssuedAt: new Date(token.createdAt).toISOString() } : {}),
    ...(activity ? { lastRequestAt: new Date(activity.lastRequestAt).toISOString(), lastStatus: activity.lastStatus, requests: activity.requests, errors: activity.errors } : {}),
  };
  const status = (object as { status?: Record<string, unknown> }).status ?? {};
  return { ...object, status: { ...status, scim } } as AnyObject;
}
