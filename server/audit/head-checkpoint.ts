import type { Clock } from '../clock.ts';
import { notFound } from '../errors.ts';
import { signingAlgorithmOf, workspaceOf } from '../oidc/key-rotation.ts';
import type { SigningKeys } from '../oidc/keys.ts';
import type { Store } from '../store/index.ts';
import { GENESIS_HASH } from './chain.ts';
import { signCheckpoint } from './checkpoint.ts';

/** A checkpoint of the audit chain's head now, signed with the namespace's current token-signing key. */
export async function checkpointHead(deps: { store: Store; keys: SigningKeys; clock: Clock }, namespace: string): Promise<string> {
  const { store, keys, clock } = deps;
  // Signing makes the namespace's first key when it has none: not for a namespace nobody declared.
  if ((await store.objects.list({ namespace })).length === 0) throw notFound(`namespace ${namespace} declares nothing: it has no signing key to sign a checkpoint with`);
  const ring = await keys.keyRing(namespace, signingAlgorithmOf(await workspaceOf(store, namespace)));
  const head = (await store.audit.head()) ?? { seq: 0, hash: GENESIS_HASH };
  return signCheckpoint(ring.signers[0]!, { seq: head.seq, hash: head.hash, time: new Date(clock.now()).toISOString(), namespace });
}
