/**
 * A software WebAuthn authenticator for server-level specs and the benchmark: it answers
 * @simplewebauthn's options with real ES256 signatures over real authenticator data (attestation
 * `none`), as a browser would post them, and can be told to lie the way an attacker would
 * (another origin or RP ID in what it signs, no user verification, a counter that goes back,
 * an answer replayed). The browser specs use Chromium's own virtual authenticator instead.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { isoBase64URL, isoCBOR } from '@simplewebauthn/server/helpers';

const b64url = (bytes: Uint8Array) => isoBase64URL.fromBuffer(new Uint8Array(bytes));
const sha256 = (data: Uint8Array | string) => new Uint8Array(createHash('sha256').update(data).digest());

export interface SoftCredential {
  id: string;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface Lies {
  /** The origin written into the client data (default: the authenticator's own). */
  origin?: string;
  /** The RP ID whose hash goes into the authenticator data (default: the options'). */
  rpId?: string;
  /** Whether the UV flag is set (default: true). */
  userVerified?: boolean;
  /** The signature counter to report (default: the next one). */
  counter?: number;
  /** A synced passkey (backup eligible and backed up): `multiDevice`. */
  synced?: boolean;
}

function authData(rpId: string, flags: number, counter: number, attested?: Uint8Array): Uint8Array {
  const count = new Uint8Array(4);
  new DataView(count.buffer).setUint32(0, counter);
  return new Uint8Array([...sha256(rpId), flags, ...count, ...(attested ?? [])]);
}

function flagsOf(lies: Lies, attested: boolean): number {
  return 0x01 | (lies.userVerified === false ? 0 : 0x04) | (lies.synced ? 0x08 | 0x10 : 0) | (attested ? 0x40 : 0);
}

export class SoftAuthenticator {
  readonly origin: string;
  readonly credentials: SoftCredential[] = [];

  constructor(origin: string) {
    this.origin = origin;
  }

  private clientData(type: string, challenge: string, lies: Lies): string {
    return b64url(new TextEncoder().encode(JSON.stringify({ type, challenge, origin: lies.origin ?? this.origin, crossOrigin: false })));
  }

  /** navigator.credentials.create(): a new discoverable ES256 credential. */
  register(options: PublicKeyCredentialCreationOptionsJSON, lies: Lies = {}): RegistrationResponseJSON {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, isoBase64URL.toBuffer(jwk.x!)],
        [-3, isoBase64URL.toBuffer(jwk.y!)],
      ]),
    );
    const rawId = new Uint8Array(randomBytes(32));
    const idLength = new Uint8Array([rawId.length >> 8, rawId.length & 0xff]);
    const attested = new Uint8Array([...new Uint8Array(16), ...idLength, ...rawId, ...cose]);
    const rpId = lies.rpId ?? options.rp.id!;
    const data = authData(rpId, flagsOf(lies, true), 0, attested);
    const attestationObject = isoCBOR.encode(
      new Map<string, string | Map<string, string> | Uint8Array>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, string>()],
        ['authData', data],
      ]),
    );
    const id = b64url(rawId);
    this.credentials.push({ id, privateKey, rpId: options.rp.id!, userHandle: options.user.id, counter: 0 });
    return {
      id,
      rawId: id,
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: { clientDataJSON: this.clientData('webauthn.create', options.challenge, lies), attestationObject: b64url(attestationObject), transports: ['internal'] },
    };
  }

  /** navigator.credentials.get(): signs with `credential` (default: the first allowed, else the first it has). */
  authenticate(options: PublicKeyCredentialRequestOptionsJSON, lies: Lies = {}, credential?: SoftCredential): AuthenticationResponseJSON {
    const allowed = options.allowCredentials?.map((c) => c.id);
    const cred = credential ?? this.credentials.find((c) => !allowed?.length || allowed.includes(c.id)) ?? this.credentials[0];
    if (!cred) throw new Error('the authenticator has no credential');
    const counter = lies.counter ?? ++cred.counter;
    const data = authData(lies.rpId ?? options.rpId ?? cred.rpId, flagsOf(lies, false), counter);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, lies);
    const signature = sign('sha256', new Uint8Array([...data, ...sha256(isoBase64URL.toBuffer(clientDataJSON))]), cred.privateKey);
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: { clientDataJSON, authenticatorData: b64url(data), signature: b64url(new Uint8Array(signature)), userHandle: cred.userHandle },
    };
  }
}
