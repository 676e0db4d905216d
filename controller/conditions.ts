import type { Condition } from '../api/index.ts';

/** Why an object is or is not Ready; CamelCase, as `metav1.Condition` wants. */
export type ReadyReason =
  | 'Reconciled'
  | 'InvalidSpec'
  | 'InvalidReference'
  | 'ParentCycle'
  | 'OwnedElsewhere'
  | 'ApplyFailed'
  | 'Pending'
  | 'Deprovisioning'
  | 'DeleteFailed'
  /** A Secret with the Client's Secret name exists and is not the Client's. */
  | 'SecretConflict'
  /** The client secret could not be rotated or written to its Secret, or a referenced Secret could not be read or copied to the server. */
  | 'SecretFailed'
  /** Changed on the server, not in its declaration, and left so for a person to decide (drift mode `report`). */
  | 'Drifted';

export interface Readiness {
  ready: boolean;
  reason: ReadyReason;
  message: string;
}

/**
 * Sets one condition in a list, keeping `lastTransitionTime` unless the status flips, so
 * re-reporting the same verdict leaves the list byte-for-byte equal (and costs no write).
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : now.toISOString();
  const condition: Condition = { type: next.type, status: next.status, reason: next.reason, message: next.message, lastTransitionTime };
  if (next.observedGeneration !== undefined) condition.observedGeneration = next.observedGeneration;
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export function readyCondition(readiness: Readiness, observedGeneration: number | undefined): Omit<Condition, 'lastTransitionTime'> {
  return {
    type: 'Ready',
    status: readiness.ready ? 'True' : 'False',
    reason: readiness.reason,
    // Conditions are for people and dashboards: keep them readable and bounded.
    message: readiness.message.length > 2000 ? `${readiness.message.slice(0, 1997)}...` : readiness.message,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
}

/** `Drifted`: True with what differs while the object is left changed on the server (drift mode `report`), False once it matches its declaration again. */
export function driftedCondition(message: string | undefined, observedGeneration: number | undefined): Omit<Condition, 'lastTransitionTime'> {
  const base = readyCondition({ ready: message !== undefined, reason: 'Drifted', message: message ?? 'matches its declaration' }, observedGeneration);
  return { ...base, type: 'Drifted', reason: message !== undefined ? 'ChangedOnServer' : 'InSync' };
}
