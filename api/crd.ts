import { API_GROUP, API_VERSION, GROUP_VERSION } from './meta.ts';
import { KINDS } from './kinds/index.ts';
import type { KindDefinition, PrinterColumn } from './kind.ts';
import { zodToStructural, type JSONSchemaProps } from './structural-schema.ts';

/**
 * Kubernetes CustomResourceDefinitions derived from the zod schemas: one per kind, its
 * openAPIV3Schema the structural schema of structural-schema.ts.
 */

export interface PrinterColumnDefinition {
  name: string;
  type: PrinterColumn['type'];
  jsonPath: string;
  priority?: number;
  description?: string;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Namespaced';
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumnDefinition[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

/** Every kind's CRD is listed by `kubectl get gatehouse`. */
export const CRD_CATEGORY = 'gatehouse';

export function crdFor(def: KindDefinition): CustomResourceDefinition {
  const spec = zodToStructural(def.spec, 'spec');
  if (def.celRules.length > 0) {
    spec['x-kubernetes-validations'] = def.celRules.map(({ rule, message }) => ({ rule, message }));
  }
  const status = zodToStructural(def.status, 'status');
  const openAPIV3Schema: JSONSchemaProps = {
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: { description: `Always "${GROUP_VERSION}".`, type: 'string' },
      kind: { description: `Always "${def.kind}".`, type: 'string' },
      // Kubernetes validates ObjectMeta itself; a schema here could only disagree with it.
      metadata: { type: 'object' },
      spec: { description: `The declared ${def.kind}.`, ...spec },
      status: { description: `What the controller observed; written through the status subresource.`, ...status },
    },
    required: ['spec'],
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        ...(def.shortNames.length > 0 ? { shortNames: [...def.shortNames] } : {}),
        categories: [CRD_CATEGORY],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map(printerColumn),
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

/** The CRD of every kind, in apply order. */
export function allCrds(): CustomResourceDefinition[] {
  return KINDS.map((k) => crdFor(k as unknown as KindDefinition));
}

function printerColumn(c: PrinterColumn): PrinterColumnDefinition {
  return {
    name: c.name,
    type: c.type,
    jsonPath: c.jsonPath,
    ...(c.priority !== undefined ? { priority: c.priority } : {}),
    ...(c.description !== undefined ? { description: c.description } : {}),
  };
}
