import type { AnyObject } from '../../api/index.ts';

/** The organization an object belongs to, which audit records and partner admins are scoped by. */
export function organizationOf(object: AnyObject): string | null {
  if (object.kind === 'Organization') return object.metadata.name;
  const spec = object.spec as { organizationRef?: { name: string } };
  return spec.organizationRef?.name ?? null;
}
