import { z } from 'zod';

export const API_GROUP = 'gatehouse.dev';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

// Names appear in issuer URLs and Kubernetes object names, so they follow the
// stricter DNS-1123 label rule (the one Kubernetes applies to namespaces).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const dnsLabel = z.string({ error: 'expected a string' }).min(1, { error: 'must not be empty' }).max(63, { error: 'must be at most 63 characters' }).regex(DNS1123_LABEL, {
  error: 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit',
});

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const labelMap = z.record(z.string().max(316).regex(LABEL_KEY, { error: 'must be a qualified name (prefix/name)' }), z.string().max(63));

export const ObjectMeta = z.strictObject({
  name: dnsLabel,
  namespace: dnsLabel.optional(),
  labels: labelMap.optional(),
  annotations: z.record(z.string().max(316), z.string().max(65536)).optional(),
  // Written by the server; accepted on input so a GET result can be PUT back.
  generation: z.int().min(1).optional(),
  creationTimestamp: z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time' }).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

export const Condition = z.strictObject({
  type: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, { error: 'must be CamelCase' }),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, { error: 'must be CamelCase' }),
  message: z.string().max(32768),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time' }),
});
export type Condition = z.infer<typeof Condition>;

/**
 * Where the declaration a controller last applied came from: in directory mode the file and,
 * in a git checkout, the commit, author and date of the file's last change. Status has no
 * audit record, so this is the place to show it without writing a new generation per commit.
 */
/**
 * Marks an object a partner administrator created at run time (`portal`: the guided IdP setup).
 * A controller never deletes such an object; once the same object is declared (committed from
 * `gatehouse export`), the declaration takes it over and the annotation goes.
 */
export const SOURCE_ANNOTATION = 'gatehouse.dev/source';

export const DeclarationSource = z.strictObject({
  /** `portal`: enabled by a partner administrator in the portal (runtime state, see docs/federation.md). */
  type: z.enum(['directory', 'git', 'kubernetes', 'portal']),
  file: z.string().max(4096).optional(),
  /** 1-based position of the YAML document in its file. */
  document: z.int().min(1).optional(),
  commit: z.string().max(64).optional(),
  author: z.string().max(512).optional(),
  date: z.iso.datetime({ offset: true, error: 'expected an RFC 3339 date-time' }).optional(),
});
export type DeclarationSource = z.infer<typeof DeclarationSource>;

/** What every kind's status holds; kinds add their own outputs. */
export const baseStatusShape = {
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(Condition).optional(),
  source: DeclarationSource.optional(),
};
