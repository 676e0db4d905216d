import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { SigningAlg } from './keys.ts';

/** node:crypto's name for the digest each algorithm signs (RFC 7518; EdDSA hashes on its own). */
const DIGEST: Record<SigningAlg, string | null> = { ES256: 'sha256', EdDSA: null, RS256: 'sha256' };

/**
 * An issuer's signing key as oidc-provider's `ExternalSigningKey`: the provider asks it to
 * sign and never holds the private key itself, nor can it hand it out.
 *
 * It signs with node:crypto's callback form, on libuv's pool like the provider's own path
 * (jose over WebCrypto), but without WebCrypto's promise machinery around each job: that
 * machinery held the event loop, which is what limits token throughput, ~50 µs per ES256
 * token on the bench machine (bench/tokens.ts: the event loop's CPU per token fell from
 * ~320 to ~260 µs, throughput rose ~10 %). Signing on the event loop itself (~30 µs)
 * cost less CPU in all but left the event loop busier, and throughput fell.
 */
export class LocalSigningKey extends ExternalSigningKey {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #digest: string | null;
  readonly #kid: string;
  readonly #alg: SigningAlg;

  constructor(privateJwk: Record<string, unknown>, kid: string, alg: SigningAlg) {
    super();
    this.#privateKey = createPrivateKey({ key: privateJwk as never, format: 'jwk' });
    this.#publicKey = createPublicKey(this.#privateKey);
    this.#digest = DIGEST[alg];
    this.#kid = kid;
    this.#alg = alg;
  }

  override get kid(): string {
    return this.#kid;
  }

  override get alg(): SigningAlg {
    return this.#alg;
  }

  /** The public half: what the provider publishes and verifies its own tokens with. */
  override keyObject(): KeyObject {
    return this.#publicKey;
  }

  /** A JWS signature over `data` (ECDSA as r‖s, RFC 7518 §3.4, not DER). */
  override sign(data: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      sign(this.#digest, data, { key: this.#privateKey, dsaEncoding: 'ieee-p1363' }, (error, signature) => (error ? reject(error) : resolve(signature)));
    });
  }
}
