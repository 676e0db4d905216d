import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { SigningAlg } from './keys.ts';

/** node:crypto's name for the digest each algorithm signs (RFC 7518; EdDSA hashes on its own). */
const DIGEST: Record<SigningAlg, string | null> = { ES256: 'sha256', EdDSA: null, RS256: 'sha256' };

/**
 * An ECDSA signature as JWS wants it (RFC 7518 §3.4: r‖s, each `size` bytes) from the DER
 * node:crypto makes (SEQUENCE { INTEGER r, INTEGER s }). node:crypto would write r‖s itself
 * given `dsaEncoding`, but an options object costs ~20 µs of the event loop per signature to
 * unpack, several times the signature's own share.
 */
export function joseSignature(der: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(2 * size);
  if (der[0] !== 0x30 || der[1] !== der.length - 2 || der.length > 2 + 2 * (2 + size + 1)) throw new Error('not a DER ECDSA signature');
  let at = 2;
  for (let part = 0; part < 2; part++) {
    if (der[at] !== 0x02) throw new Error('not a DER ECDSA signature');
    let length = der[at + 1]!;
    let start = at + 2;
    at = start + length;
    // INTEGERs are signed: a leading zero byte only keeps the high bit off.
    while (length > size && der[start] === 0) start++, length--;
    if (length > size || at > der.length) throw new Error('not a DER ECDSA signature');
    out.set(der.subarray(start, start + length), (part + 1) * size - length);
  }
  if (at !== der.length) throw new Error('not a DER ECDSA signature');
  return out;
}

/**
 * An issuer's signing key as oidc-provider's `ExternalSigningKey`: the provider asks it to
 * sign and never holds the private key itself, nor can it hand it out.
 *
 * It signs with node:crypto's callback form, on libuv's pool like the provider's own path
 * (jose over WebCrypto), but holds the event loop for less of each signature, and the event
 * loop is what limits token throughput (bench/signing.ts: ~6–8 µs of it per ES256 signature,
 * against ~11–18 µs for the WebCrypto call alone). Signing on the event loop itself
 * (~50–70 µs) cost less CPU in all but left the event loop busier, and throughput fell.
 */
export class LocalSigningKey extends ExternalSigningKey {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #digest: string | null;
  /** ECDSA: the size of r and of s in the JWS signature; undefined for the others, signed as JWS wants them. */
  readonly #ecdsaSize: number | undefined;
  readonly #kid: string;
  readonly #alg: SigningAlg;

  constructor(privateJwk: Record<string, unknown>, kid: string, alg: SigningAlg) {
    super();
    this.#privateKey = createPrivateKey({ key: privateJwk as never, format: 'jwk' });
    this.#publicKey = createPublicKey(this.#privateKey);
    this.#digest = DIGEST[alg];
    this.#ecdsaSize = alg === 'ES256' ? 32 : undefined;
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
    const size = this.#ecdsaSize;
    return new Promise((resolve, reject) => {
      sign(this.#digest, data, this.#privateKey, (error, signature) => {
        if (error) reject(error);
        else if (size === undefined) resolve(signature);
        else {
          try {
            resolve(joseSignature(signature, size));
          } catch (failed) {
            reject(failed);
          }
        }
      });
    });
  }
}
