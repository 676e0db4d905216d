import type { AnyObject, Claim, FieldError, WorkspaceObject } from '../../api/index.ts';
import { declaredClaimProblem } from '../oidc/claim-schema.ts';
import type { Repositories } from '../store/index.ts';

/**
 * A ClaimMapping's or OrganizationTemplate's claims against the namespace Workspace's
 * `claimSchema` (claim-schema.ts): a constant that does not read as its type, or a source of
 * another type, is refused when declared rather than dropped from every token.
 */
export async function claimAdmissionErrors(repo: Repositories, object: AnyObject): Promise<FieldError[]> {
  const claims: Claim[] | undefined = object.kind === 'ClaimMapping' ? object.spec.claims : object.kind === 'OrganizationTemplate' ? object.spec.claims : undefined;
  if (!claims?.length) return [];
  const workspace = (await repo.objects.list({ kind: 'Workspace', namespace: object.metadata.namespace! }))[0]?.object as WorkspaceObject | undefined;
  const schema = workspace?.spec.claimSchema;
  if (!schema) return [];
  return claims.flatMap((claim, i) => {
    const problem = declaredClaimProblem(claim, schema);
    return problem ? [{ path: `spec.claims[${i}].${claim.value !== undefined ? 'value' : 'from'}`, message: `claim ${claim.name}: ${problem}` }] : [];
  });
}
