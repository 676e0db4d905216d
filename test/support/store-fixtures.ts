/**
 * Fixtures shared by the store's specifications: real declarations, checked by their
 * schemas, and audit entries appended as the server appends them.
 */
import { GROUP_VERSION, kindByName, parseObject, type AnyObject } from '../../api/index.ts';
import type { AuditEntry, Store } from '../../server/store/index.ts';

export const NAMESPACE = 'blixit';

export function organization(name: string, displayName: string): AnyObject {
  return parseObject({
    apiVersion: GROUP_VERSION,
    kind: 'Organization',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      displayName,
      emailDomains: [`${name}.example`],
      contract: { id: `C-${name}`, partnerType: 'consultant', owner: 'owner@blixit.example', endsAt: '2027-12-31T00:00:00Z' },
    },
  });
}

export function client(name: string, organizationName: string): AnyObject {
  return parseObject({
    apiVersion: GROUP_VERSION,
    kind: 'Client',
    metadata: { name, namespace: NAMESPACE },
    spec: { organizationRef: { name: organizationName }, type: 'web', redirectUris: [`https://${name}.example/callback`] },
  });
}

export function stored(object: AnyObject, uid: string, at: number, generation = 1) {
  return { uid, generation, object, createdAt: at, updatedAt: at };
}

export function referencesOf(object: AnyObject) {
  return kindByName(object.kind)!.references(object.spec);
}

export function entry(i: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return { action: 'Organization.updated', actor: 'controller', kind: 'Organization', name: `org-${i}`, data: { i }, ...extra };
}

/** Appends each entry in its own transaction, as the server does. */
export async function appendAll(store: Store, entries: AuditEntry[]): Promise<void> {
  for (const [i, e] of entries.entries()) await store.transaction((repo) => repo.audit.append(e, 1_700_000_000_000 + i));
}
