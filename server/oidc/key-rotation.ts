import { lifetimeCeilings, type WorkspaceObject } from '../../api/index.ts';
import type { Repositories } from '../store/index.ts';
import type { SigningKeys } from './keys.ts';

/** The namespace's Workspace, which chooses its signing algorithm; undefined when none is declared. */
export async function workspaceOf(repo: Repositories, namespace: string): Promise<WorkspaceObject | undefined> {
  return (await repo.objects.list({ kind: 'Workspace', namespace }))[0]?.object as WorkspaceObject | undefined;
}

export const signingAlgorithmOf = (workspace: WorkspaceObject | undefined) => workspace?.spec.signingAlgorithm ?? 'ES256';

/**
 * Rotates a namespace's signing key: the new key is published `publishAheadSeconds` before it
 * signs, and the old one stays published for as long as a token it signed can live (the
 * workspace's lifetime ceilings), plus a margin for clock skew.
 */
export async function rotateNamespaceKey(deps: { repo: Repositories; keys: SigningKeys }, namespace: string, publishAheadSeconds: number): Promise<{ kid: string; activatesAt: number }> {
  const ws = await workspaceOf(deps.repo, namespace);
  const ceilings = lifetimeCeilings(ws);
  return deps.keys.rotate(namespace, signingAlgorithmOf(ws), { publishAheadSeconds, retainForSeconds: Math.max(ceilings.accessToken.value, ceilings.idToken.value) + 300 });
}
