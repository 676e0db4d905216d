import { kindByName, type AnyObject, type DeclarationSource, type KindName } from '../api/index.ts';
import type { ReadyReason } from './conditions.ts';

/** What a source declares, as the reconciler reads it: objects by key, with where each was written. */

export interface ObjectKey {
  kind: KindName;
  namespace: string;
  name: string;
}

export function keyOf(k: ObjectKey): string {
  return `${k.kind} ${k.namespace}/${k.name}`;
}

/** The key `keyOf` wrote, read back; undefined for a string that is not one. */
export function parseKey(key: string): ObjectKey | undefined {
  const match = /^([A-Za-z]+) ([^/ ]+)\/([^/ ]+)$/.exec(key);
  const kind = match ? kindByName(match[1]!)?.kind : undefined;
  return match && kind ? { kind, namespace: match[2]!, name: match[3]! } : undefined;
}

export function objectKey(object: AnyObject): ObjectKey {
  return { kind: object.kind, namespace: object.metadata.namespace ?? 'default', name: object.metadata.name };
}

/** Where a declaration was written, for messages (`file (document n)`). */
export interface Origin {
  file?: string;
  /** 1-based. */
  document?: number;
}

export interface DesiredObject {
  /** Parsed with `parseObject` (defaults applied, namespace filled in). */
  object: AnyObject;
  /** Sent with every write about this object and kept in its audit record (file, commit, author, …). */
  provenance: Record<string, string>;
  /** Shown in the object's status on the server. */
  source?: DeclarationSource;
  origin?: Origin;
}

/** A declaration the source could not turn into an object; `target` when at least its kind and name are known. */
export interface DeclarationError {
  target?: ObjectKey;
  label: string;
  reason: ReadyReason;
  message: string;
  origin?: Origin;
}

export interface DesiredState {
  objects: DesiredObject[];
  errors: DeclarationError[];
  /**
   * False when part of the input could not be read at all (a file that is not YAML): what it
   * declared is unknown, so nothing is deleted in that pass rather than deleting too much.
   */
  complete: boolean;
}
