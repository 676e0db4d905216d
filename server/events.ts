import { EventEmitter } from 'node:events';
import type { PasskeyRecord, UserRecord } from './store/index.ts';

/** In-process notice that a namespace's configuration changed (other replicas learn it from the store). */
export class ConfigEvents extends EventEmitter<{ changed: [namespace: string] }> {}

/**
 * What happened to a user's account that the user should hear about: the hook notifications
 * listen on (a "passkey added" message). Emitted after the change is committed and audited,
 * on the replica that made it.
 */
export interface AccountEventMap {
  /** A passkey was enrolled: at sign-in, from an account page, or at invitation acceptance. */
  'passkey-added': [passkey: PasskeyRecord, user: UserRecord];
}

export class AccountEvents extends EventEmitter<AccountEventMap> {}
