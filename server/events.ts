import { EventEmitter } from 'node:events';

/** In-process notice that a namespace's configuration changed (other replicas learn it from the store). */
export class ConfigEvents extends EventEmitter<{ changed: [namespace: string] }> {}
