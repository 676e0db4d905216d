import { SOURCE_ANNOTATION, type AnyObject } from '../api/index.ts';
import { keyOf, objectKey } from './desired-state.ts';

/** Annotation naming the controller that created an object; it deletes only what carries its own name. */
export const MANAGED_BY = 'gatehouse.dev/managed-by';

/** A controller changes objects nobody owns (adopting them) and its own, never another controller's. */
export function mayWrite(current: AnyObject, owner: string): boolean {
  const recorded = current.metadata.annotations?.[MANAGED_BY];
  return recorded === undefined || recorded === owner;
}

/** The declaration as `owner` writes it: with its ownership annotation when it creates the object or already owns it. */
export function asWritten(declared: AnyObject, current: AnyObject | undefined, owner: string): AnyObject {
  // Ownership is recorded only on what this controller creates: an object it adopted stays unowned and so is never deleted by it.
  // A partner's portal connection, now committed (`gatehouse export`), is the exception: git
  // became its source of truth, so from now on it is this controller's, deleted when undeclared.
  const annotations: Record<string, string> = { ...(declared.metadata.annotations ?? {}) };
  delete annotations[MANAGED_BY];
  delete annotations[SOURCE_ANNOTATION];
  const currentOwner = current?.metadata.annotations?.[MANAGED_BY];
  const handedOver = current !== undefined && currentOwner === undefined && current.metadata.annotations?.[SOURCE_ANNOTATION] !== undefined;
  if (!current || currentOwner === owner || handedOver) annotations[MANAGED_BY] = owner;
  return { ...declared, metadata: { ...declared.metadata, annotations } } as AnyObject;
}

/** Undeclared objects this owner created: what a complete pass deletes. Runtime state and others' objects are never among them. */
export function orphansOf(server: ReadonlyMap<string, AnyObject>, declared: ReadonlySet<string>, owner: string): AnyObject[] {
  return [...server.values()].filter((o) => o.metadata.annotations?.[MANAGED_BY] === owner && !declared.has(keyOf(objectKey(o))));
}
