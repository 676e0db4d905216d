import { organizationChain, type AnyObject, type Claim, type ClaimMappingObject, type FieldError, type OrganizationObject, type WorkspaceObject } from '../../api/index.ts';
import { declaredClaimProblem, typed, type ClaimSchema } from '../oidc/claim-schema.ts';
import { tokenClaims } from '../oidc/claims.ts';
import type { Repositories } from '../store/index.ts';

/**
 * Declared claims against the namespace Workspace's `claimSchema` (claim-schema.ts), refused
 * when declared rather than dropped from every token: a ClaimMapping's or template's constant
 * that does not read as its type or a source of another type, and an organization attribute
 * a mapping takes (`contract.partnerType` into an enum) whose value the schema does not allow
 * — checked both when the mapping is written and when the organization is.
 */
export async function claimAdmissionErrors(repo: Repositories, object: AnyObject): Promise<FieldError[]> {
  if (object.kind !== 'ClaimMapping' && object.kind !== 'OrganizationTemplate' && object.kind !== 'Organization') return [];
  const namespace = object.metadata.namespace!;
  const workspace = (await repo.objects.list({ kind: 'Workspace', namespace }))[0]?.object as WorkspaceObject | undefined;
  const schema = workspace?.spec.claimSchema;
  if (!schema) return [];
  const organizations = async () => {
    const orgs = new Map((await repo.objects.list({ kind: 'Organization', namespace })).map((o) => [o.object.metadata.name, o.object as OrganizationObject]));
    if (object.kind === 'Organization') orgs.set(object.metadata.name, object);
    return orgs;
  };
  if (object.kind === 'Organization') {
    const orgs = await organizations();
    const mappings = (await repo.objects.list({ kind: 'ClaimMapping', namespace })).map((m) => m.object as ClaimMappingObject).filter((m) => m.spec.organizationRef.name === object.metadata.name);
    return mappings.flatMap((m) =>
      m.spec.claims.flatMap((claim) => {
        const problem = attributeProblem(claim, organizationChain(orgs, object.metadata.name), schema);
        return problem ? [{ path: `spec.${claim.from!.replace(/^organization\./, '')}`, message: `ClaimMapping ${m.metadata.name} maps it into claim ${claim.name}: ${problem}` }] : [];
      }),
    );
  }
  const claims: Claim[] = object.spec.claims ?? [];
  const chain = object.kind === 'ClaimMapping' ? organizationChain(await organizations(), object.spec.organizationRef.name) : [];
  return claims.flatMap((claim, i) => {
    const problem = declaredClaimProblem(claim, schema) ?? attributeProblem(claim, chain, schema);
    return problem ? [{ path: `spec.claims[${i}].${claim.value !== undefined ? 'value' : 'from'}`, message: `claim ${claim.name}: ${problem}` }] : [];
  });
}

/** Why the organization's own value for a mapped attribute does not fit its claim, if it does not. */
function attributeProblem(claim: Claim, chain: OrganizationObject[], schema: ClaimSchema): string | undefined {
  const def = schema[claim.name];
  if (!def || !claim.from || !chain.length || !/^(organization|contract)\./.test(claim.from)) return undefined;
  const value = tokenClaims(chain, [claim], undefined)[claim.name];
  if (value === undefined || typed(value, def) !== undefined) return undefined;
  return `organization ${chain[0]!.metadata.name}'s ${claim.from} is ${JSON.stringify(value)}, not a valid ${def.type}${def.values ? ` (one of ${def.values.join(', ')})` : ''} as the Workspace's claimSchema declares it`;
}
