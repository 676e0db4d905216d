import { createHash } from 'node:crypto';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { SecretKeyRef } from '../../api/index.ts';
import { matchesFingerprint } from '../../client/secret-fingerprint.ts';
import type { AdminClient } from '../../client/admin-client.ts';
import type { Readiness } from '../conditions.ts';
import { keyOf } from '../desired-state.ts';
import { describeError, readSecret } from './client-secrets.ts';
import type { CustomResource } from './source.ts';

/** What one IdPConnection's reference came to in a pass. Names only, never a value. */
export interface RefVerdict {
  /** Replaces the connection's Ready verdict when what it references is not in the server. */
  readiness?: Readiness;
  /** Worth a Normal Event: the referenced keys were copied into the server this pass. */
  notice?: { reason: string; message: string };
}

export interface SecretRefSyncOptions {
  core: CoreV1Api;
  admin: AdminClient;
  /** This controller's identity, recorded as the write's provenance. */
  owner: string;
}

/** One Kubernetes Secret and every IdPConnection key read from it. */
interface Group {
  namespace: string;
  name: string;
  /** key → the connections (by keyOf) referencing it */
  keys: Map<string, string[]>;
}

/** A server fingerprint known to be of the data with this digest (the digest, unlike the value, may sit in memory). */
interface Matched {
  digest: string;
  fingerprint: string;
}

/**
 * Copies the Kubernetes Secrets that IdPConnections reference (`spec.oidc.clientSecretRef`)
 * into the server's write-only secret store, level-triggered. Secrets are read by name (GET,
 * never list or watch: RBAC cannot narrow those, and they would expose every Secret). A write
 * happens only when the server's fingerprint of its copy (a salted scrypt hash, never the value)
 * does not match the data: idle passes and restarts cost reads only, a change in the Secret or a
 * copy replaced through the admin API is written once. A missing Secret or key is waited for
 * (Ready=False, Pending), never invented, and the server keeps what it last had.
 * Values live only in locals; digests are kept instead of values.
 */
export class SecretRefSync {
  private readonly core: CoreV1Api;
  private readonly admin: AdminClient;
  private readonly owner: string;
  private readonly matched = new Map<string, Matched>();

  constructor(options: SecretRefSyncOptions) {
    this.core = options.core;
    this.admin = options.admin;
    this.owner = options.owner;
  }

  /** Brings the server's copy of every referenced Secret in line; verdicts are keyed by `keyOf` of each IdPConnection. */
  async sync(connections: CustomResource[]): Promise<Map<string, RefVerdict>> {
    const verdicts = new Map<string, RefVerdict>();
    const groups = new Map<string, Group>();
    for (const cr of connections) {
      const ref = referenceOf(cr);
      if (!ref) continue;
      const namespace = cr.metadata.namespace ?? 'default';
      const id = `${namespace}/${ref.name}`;
      const group = groups.get(id) ?? { namespace, name: ref.name, keys: new Map() };
      groups.set(id, group);
      const key = keyOf({ kind: 'IdPConnection', namespace, name: cr.metadata.name });
      group.keys.set(ref.key, [...(group.keys.get(ref.key) ?? []), key]);
    }
    // One Secret at a time: several connections sharing a Secret must land in one write, or each write would replace the other's key.
    for (const group of groups.values()) await this.syncGroup(group, verdicts);
    return verdicts;
  }

  private async syncGroup(group: Group, verdicts: Map<string, RefVerdict>): Promise<void> {
    const { namespace, name } = group;
    const where = `Secret ${namespace}/${name}`;
    const label = (connection: string) => `IdPConnection ${connection.split('/').slice(1).join('/')}`;
    const refField = 'spec.oidc.clientSecretRef';
    const every = (verdict: (connection: string, key: string) => RefVerdict) => {
      for (const [key, connections] of group.keys) for (const c of connections) verdicts.set(c, verdict(c, key));
    };

    let secret: V1Secret | undefined;
    try {
      secret = await readSecret(this.core, namespace, name);
    } catch (error) {
      every((c, key) => ({ readiness: { ready: false, reason: 'SecretFailed', message: `${label(c)}: cannot read ${where} (key "${key}", ${refField}): ${describeError(error)}` } }));
      return;
    }
    if (!secret) {
      let kept = '';
      try {
        if (await this.admin.describeSecret(namespace, name)) kept = '; the server keeps the value copied last';
      } catch {
        // Only decoration for the message: the verdict is Pending either way.
      }
      every((c, key) => ({ readiness: { ready: false, reason: 'Pending', message: `${label(c)}: waiting for ${where} with key "${key}" (${refField}): the Secret does not exist${kept}` } }));
      return;
    }

    const data: Record<string, string> = {};
    for (const [key, connections] of group.keys) {
      const encoded = secret.data?.[key];
      if (encoded === undefined) {
        for (const c of connections) verdicts.set(c, { readiness: { ready: false, reason: 'Pending', message: `${label(c)}: waiting for key "${key}" in ${where} (${refField}): the Secret has no such key` } });
      } else {
        data[key] = Buffer.from(encoded, 'base64').toString('utf8');
      }
    }
    if (Object.keys(data).length === 0) return;

    let copied: string | undefined;
    try {
      copied = await this.copy(namespace, name, data);
    } catch (error) {
      for (const key of Object.keys(data)) {
        for (const c of group.keys.get(key)!) verdicts.set(c, { readiness: { ready: false, reason: 'SecretFailed', message: `${label(c)}: cannot copy key "${key}" of ${where} into the Gatehouse secret store: ${describeError(error)}` } });
      }
      return;
    }
    if (!copied) return;
    const keys = Object.keys(data)
      .sort()
      .map((k) => `"${k}"`)
      .join(', ');
    for (const key of Object.keys(data)) {
      for (const c of group.keys.get(key)!) verdicts.set(c, { notice: { reason: 'SecretCopied', message: `copied key ${keys} of ${where} into the Gatehouse secret store (${copied})` } });
    }
  }

  /**
   * Writes the data unless the server's fingerprint shows it already holds exactly that; resolves
   * to why it wrote, if it did. A fingerprint once matched is remembered against the data's digest,
   * so idle passes cost one GET to the server and no hashing.
   */
  private async copy(namespace: string, name: string, data: Record<string, string>): Promise<string | undefined> {
    const id = `${namespace}/${name}`;
    const digest = digestOf(namespace, name, data);
    const known = this.matched.get(id);
    const current = await this.admin.describeSecret(namespace, name);
    let reason: string;
    if (!current) {
      reason = 'missing in the server';
    } else if (!current.fingerprint) {
      reason = 'the server has no fingerprint of it';
    } else if (known?.fingerprint === current.fingerprint && known.digest === digest) {
      return undefined;
    } else if (known?.fingerprint === current.fingerprint) {
      reason = 'the Secret changed';
    } else if (await matchesFingerprint(current.fingerprint, data)) {
      this.matched.set(id, { digest, fingerprint: current.fingerprint });
      return undefined;
    } else {
      reason = known ? 'replaced in the server since the last copy' : 'the server holds other data';
    }
    const provenance = { source: 'kubernetes', controller: this.owner, secret: id, reason };
    const result = await this.admin.withProvenance(provenance).putSecret(namespace, name, data);
    if (result.fingerprint) this.matched.set(id, { digest, fingerprint: result.fingerprint });
    else this.matched.delete(id);
    return reason;
  }
}

/** The reference of an OIDC IdPConnection, when well formed; an invalid spec is the reconciler's to report. */
function referenceOf(cr: CustomResource): SecretKeyRef | undefined {
  const spec = cr.spec as { type?: unknown; oidc?: { clientSecretRef?: unknown } } | undefined;
  if (spec?.type !== 'oidc') return undefined;
  const parsed = SecretKeyRef.safeParse(spec.oidc?.clientSecretRef);
  return parsed.success ? parsed.data : undefined;
}

/** Keyed by the Secret's identity so equal data under two names never compares equal; the digest, unlike the value, may sit in memory. */
function digestOf(namespace: string, name: string, data: Record<string, string>): string {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256')
    .update(JSON.stringify([namespace, name, sorted]))
    .digest('hex');
}
