import { compactVerify, createLocalJWKSet, errors, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import { GENESIS_HASH, type ChainVerdict } from './chain.ts';
import { SigningAlgorithm } from '../../api/index.ts';

/**
 * A signed checkpoint of the audit chain's head: what the chain held at one instant, signed
 * with a namespace's token-signing key (the one its JWKS publishes). Kept outside the store
 * (a CI job, a SIEM), it catches what the HMAC alone cannot: someone holding both the store
 * and GATEHOUSE_SECRET_KEY who rewrites history and recomputes the chain, or cuts its tail.
 */
export const CHECKPOINT_TYP = 'gatehouse-audit-checkpoint+jws';

export const CheckpointPayload = z.strictObject({
  seq: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  time: z.iso.datetime({ offset: true }),
  namespace: z.string().min(1),
});
export type CheckpointPayload = z.infer<typeof CheckpointPayload>;

/** What signs: a JWS signature over the signing input (`LocalSigningKey` is one). */
export interface CheckpointSigner {
  readonly kid: string;
  readonly alg: string;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export async function signCheckpoint(signer: CheckpointSigner, payload: CheckpointPayload): Promise<string> {
  const input = `${b64({ alg: signer.alg, kid: signer.kid, typ: CHECKPOINT_TYP })}.${b64(payload)}`;
  const signature = await signer.sign(Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/**
 * The checkpoint's payload once its signature verifies against `jwks`, or why not. A JWS of
 * another type signed by the same key (an ID token) is not a checkpoint.
 */
export async function openCheckpoint(jws: string, jwks: JSONWebKeySet): Promise<{ ok: true; payload: CheckpointPayload } | { ok: false; problem: string }> {
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(jws.trim(), createLocalJWKSet(jwks), { algorithms: [...SigningAlgorithm.options] });
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey) return { ok: false, problem: 'the checkpoint was not signed by any key of this key set (another namespace, or not ours)' };
    if (error instanceof errors.JWSSignatureVerificationFailed) return { ok: false, problem: "the checkpoint's signature does not verify: it was altered" };
    return { ok: false, problem: `the checkpoint is not a signed JWS this key set verifies (${error instanceof Error ? error.message : String(error)})` };
  }
  if (verified.protectedHeader.typ !== CHECKPOINT_TYP) return { ok: false, problem: `the JWS is not an audit checkpoint (typ ${JSON.stringify(verified.protectedHeader.typ ?? null)})` };
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    return { ok: false, problem: "the checkpoint's payload is not JSON" };
  }
  const parsed = CheckpointPayload.safeParse(body);
  if (!parsed.success) return { ok: false, problem: `the checkpoint's payload is not {seq, hash, time, namespace}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}` };
  return { ok: true, payload: parsed.data };
}

/**
 * Whether a chain that verified (`verdict`) still holds what the checkpoint vouches for:
 * at least as many records, and the record at `seq` with the same hash.
 */
export function checkAgainst(checkpoint: CheckpointPayload, verdict: Extract<ChainVerdict, { ok: true }>, hashAt: string | undefined): string | undefined {
  if (verdict.records < checkpoint.seq) {
    return `the chain ends at record ${verdict.records}, but the checkpoint of ${checkpoint.time} vouches for record ${checkpoint.seq}: records were cut from the end`;
  }
  const actual = checkpoint.seq === 0 ? GENESIS_HASH : hashAt;
  if (actual !== checkpoint.hash) {
    return `record ${checkpoint.seq} has hash ${actual ?? '(none)'}, but the checkpoint of ${checkpoint.time} says ${checkpoint.hash}: the chain up to it was rewritten`;
  }
  return undefined;
}
