import type { AnyObject } from '../api/index.ts';
import type { Readiness } from './conditions.ts';
import type { ObjectKey, Origin } from './desired-state.ts';

/** What one pass did, object by object and in sum. */

/** `drifted`: changed on the server, left as it is and reported (drift mode `report`). */
export type ObjectOutcome = 'created' | 'updated' | 'unchanged' | 'failed' | 'deleted' | 'drifted';

export interface ObjectResult {
  key: ObjectKey;
  outcome: ObjectOutcome;
  readiness: Readiness;
  /** The object on the server after the pass, when it exists there. */
  server?: AnyObject;
  origin?: Origin;
}

export interface PassProblem {
  label: string;
  message: string;
  origin?: Origin;
}

export interface PassReport {
  declared: number;
  /** Declared objects in sync with the server after the pass. */
  applied: number;
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
  /** Objects changed on the server and left so (drift mode `report`); also among `problems`. */
  drifted: number;
  statusWrites: number;
  /** Every write the pass made (applies, deletions, status): zero when the server already matched. */
  writes: number;
  problems: PassProblem[];
  results: ObjectResult[];
  /**
   * The objects on the server after the pass, by key: every one after a full pass, those of
   * `keys` after a keyed pass.
   */
  present: Map<string, AnyObject>;
  /** The keys a keyed pass reconciled (`reconcileKeys`); undefined for a full pass, which covers every key. */
  keys?: ReadonlySet<string>;
  /** Requests the pass sent that wrote (or tried to write) several objects at once. */
  batches: number;
  durationMs: number;
}
