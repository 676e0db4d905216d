import { z } from 'zod';
import { GROUP_VERSION, ObjectMeta, baseStatusShape } from './meta.ts';
import type { LocalRef } from './common.ts';

/** Column shown by `kubectl get` (additionalPrinterColumns of the CRD). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  priority?: number;
  description?: string;
}

/** An outgoing reference of an object: the field holding it and the kind it names. */
export interface Reference {
  field: string;
  kind: KindName;
  name: string;
}

export type KindName = 'Workspace' | 'OrganizationTemplate' | 'Organization' | 'IdPConnection' | 'Client' | 'ClaimMapping' | 'AccessPolicy' | 'User';

export interface KindDefinition<Spec extends z.ZodType = z.ZodType, Status extends z.ZodType = z.ZodType, K extends KindName = KindName> {
  kind: K;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Spec;
  status: Status;
  schema: z.ZodType<GatehouseObject<z.infer<Spec>, z.infer<Status>, K>>;
  printerColumns: PrinterColumn[];
  /** Rules Kubernetes checks on the spec (x-kubernetes-validations, CEL), mirroring the spec's zod refinements. */
  celRules: { rule: string; message: string }[];
  references(spec: z.infer<Spec>): Reference[];
}

export interface GatehouseObject<Spec = unknown, Status = unknown, K extends KindName = KindName> {
  apiVersion: typeof GROUP_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

export const readyColumns: PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
];
export const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export function defineKind<K extends KindName, Spec extends z.ZodType, StatusShape extends z.ZodRawShape>(def: {
  kind: K;
  plural: string;
  shortNames?: string[];
  description: string;
  spec: Spec;
  statusShape?: StatusShape;
  printerColumns?: PrinterColumn[];
  celRules?: { rule: string; message: string }[];
  references?: (spec: z.infer<Spec>) => Reference[];
}) {
  const status = z.strictObject({ ...baseStatusShape, ...(def.statusShape ?? ({} as StatusShape)) });
  const schema = z.strictObject({
    apiVersion: z.literal(GROUP_VERSION, { error: `expected "${GROUP_VERSION}"` }),
    kind: z.literal(def.kind, { error: `expected "${def.kind}"` }),
    metadata: ObjectMeta,
    spec: def.spec,
    status: status.optional(),
  });
  return {
    kind: def.kind,
    plural: def.plural,
    singular: def.kind.toLowerCase(),
    shortNames: def.shortNames ?? [],
    description: def.description,
    spec: def.spec,
    status,
    schema,
    printerColumns: [...readyColumns, ...(def.printerColumns ?? []), ageColumn],
    celRules: def.celRules ?? [],
    references: def.references ?? (() => []),
  } as unknown as KindDefinition<Spec, typeof status, K>;
}

export function ref(field: string, kind: KindName, target: LocalRef | undefined): Reference[] {
  return target ? [{ field, kind, name: target.name }] : [];
}
