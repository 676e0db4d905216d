import type { AnyObject, FieldError, WorkspaceObject } from '../../api/index.ts';
import type { Repositories } from '../store/index.ts';

/**
 * A Workspace with `requireContract` admits no Organization without a `contract`: no partner
 * silently lacks a `contract_id` or never ends. Turning it on refuses nothing already stored;
 * those organizations are reported (`ContractDeclared=False`, lifecycle.ts).
 */
export async function contractAdmissionErrors(repo: Repositories, object: AnyObject): Promise<FieldError[]> {
  if (object.kind !== 'Organization' || object.spec.contract) return [];
  const workspace = (await repo.objects.list({ kind: 'Workspace', namespace: object.metadata.namespace! }))[0]?.object as WorkspaceObject | undefined;
  if (!workspace?.spec.requireContract) return [];
  return [{ path: 'spec.contract', message: `required: Workspace ${workspace.metadata.name} sets requireContract, so every organization declares its contract (id, partnerType, owner, endsAt)` }];
}
