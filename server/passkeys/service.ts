import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse, type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON } from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { PasskeyRecord, Store, UserRecord } from '../store/index.ts';
import { ACR } from '../oidc/acr.ts';
import { notifyPasskeyAdded } from '../notifications/outbox.ts';

/** How long a ceremony's challenge stays good: the browser's own timeout, and a little more. */
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;
const TIMEOUT_MS = 2 * 60 * 1000;
const NAME_MAX = 64;

/**
 * The relying party a ceremony is for: the issuer's host (each vanity host its own, so a
 * passkey made at one is never offered at another) and the origin the browser must report.
 */
export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingPartyOf(issuerUrl: string, name: string): RelyingParty {
  const url = new URL(issuerUrl);
  return { id: url.hostname, origin: url.origin, name };
}

/** A ceremony in flight, kept in the store (any replica finishes it) under its challenge, used once. */
const Ceremony = z.object({
  purpose: z.enum(['register', 'authenticate']),
  namespace: z.string(),
  rpId: z.string(),
  origin: z.string(),
  /** Register: whose passkey it becomes. Authenticate: set when a known user is asked (step-up); unset for a discoverable sign-in. */
  userId: z.string().optional(),
  organization: z.string().optional(),
  userVerification: z.enum(['required', 'preferred']),
});
type Ceremony = z.infer<typeof Ceremony>;

/** Why a ceremony was refused: each is a spec, an audit reason and a message. */
export type PasskeyRefusal = 'malformed' | 'unknown-challenge' | 'wrong-ceremony' | 'wrong-origin' | 'wrong-rp-id' | 'user-verification-missing' | 'unknown-credential' | 'other-namespace' | 'other-organization' | 'other-user' | 'counter-regression' | 'already-enrolled' | 'invalid';

export const REFUSAL_MESSAGES: Record<PasskeyRefusal, string> = {
  malformed: 'The passkey answer could not be read.',
  'unknown-challenge': 'This passkey request expired or was already used. Try again.',
  'wrong-ceremony': 'This passkey request was for something else. Try again.',
  'wrong-origin': 'The passkey answer came from another site.',
  'wrong-rp-id': 'The passkey answer is for another site.',
  'user-verification-missing': 'Your passkey must verify you (PIN, fingerprint or face) to sign in without a password.',
  'unknown-credential': 'This passkey is not registered here.',
  'other-namespace': 'This passkey is not registered here.',
  'other-organization': 'This passkey belongs to another organization.',
  'other-user': 'This passkey belongs to another account.',
  'counter-regression': 'This passkey was refused: its authenticator may have been copied. Contact your administrator.',
  'already-enrolled': 'This passkey is already registered.',
  invalid: 'The passkey answer could not be verified.',
};

export type PasskeyResult<T> = { ok: true; value: T } | { ok: false; reason: PasskeyRefusal; detail?: string };

/** What a verified passkey sign-in says about itself, in RFC 8176 and OpenID EAP terms. */
export interface PasskeyLogin {
  passkey: PasskeyRecord;
  userVerified: boolean;
  /** `hwk` for a device-bound credential, `swk` for a synced one; `user` (presence, always tested); `mfa` when the authenticator verified the user too. */
  amr: string[];
  /** `phrh` (phishing-resistant, hardware-protected) for a device-bound credential, `phr` for a synced one. */
  acr: string;
}

/** What a credential's use is worth: device-bound keys are hardware, synced passkeys software. */
export function passkeyAuthentication(p: Pick<PasskeyRecord, 'deviceType'>, userVerified: boolean): { amr: string[]; acr: string } {
  const hardware = p.deviceType === 'singleDevice';
  return { amr: [hardware ? 'hwk' : 'swk', 'user', ...(userVerified ? ['mfa'] : [])], acr: hardware ? ACR.phrh : ACR.phr };
}

/** The user handle a credential carries for a user: the user's id (never the email), which a discoverable sign-in hands back. */
const userHandle = (userId: string) => new TextEncoder().encode(userId);

const challengeKey = (challenge: string) => `webauthn:${challenge}`;

/** The challenge the browser signed, read from the client data without trusting anything else in it. */
function challengeOf(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== 'string' || !isoBase64URL.isBase64URL(clientDataJSON)) return undefined;
  try {
    const parsed = JSON.parse(isoBase64URL.toUTF8String(clientDataJSON)) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' && parsed.challenge.length <= 256 ? parsed.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** @simplewebauthn's verification errors, sorted into what the audit and the specs name. */
function classify(error: unknown): PasskeyRefusal {
  const message = error instanceof Error ? error.message : String(error);
  if (/origin/i.test(message)) return 'wrong-origin';
  if (/RP ID/i.test(message)) return 'wrong-rp-id';
  if (/user could not be verified/i.test(message)) return 'user-verification-missing';
  if (/counter value/i.test(message)) return 'counter-regression';
  return 'invalid';
}

// Post-quantum signatures (ML-DSA, which @simplewebauthn 14 accepts and Chromium's authenticator picks) run to a few KiB.
const RegistrationJSON = z.looseObject({ id: z.string().max(1024), rawId: z.string().max(1024), type: z.string(), response: z.looseObject({ clientDataJSON: z.string().max(8192), attestationObject: z.string().max(65536) }) });
const AuthenticationJSON = z.looseObject({ id: z.string().max(1024), rawId: z.string().max(1024), type: z.string(), response: z.looseObject({ clientDataJSON: z.string().max(8192), authenticatorData: z.string().max(8192), signature: z.string().max(16384), userHandle: z.string().max(256).optional() }) });

/** Parses the JSON the page posts (`response`); undefined when it is not a WebAuthn answer. */
export function parseResponse(raw: string, kind: 'register'): RegistrationResponseJSON | undefined;
export function parseResponse(raw: string, kind: 'authenticate'): AuthenticationResponseJSON | undefined;
export function parseResponse(raw: string, kind: 'register' | 'authenticate'): RegistrationResponseJSON | AuthenticationResponseJSON | undefined {
  if (raw.length > 128 * 1024) return undefined;
  try {
    const parsed = (kind === 'register' ? RegistrationJSON : AuthenticationJSON).safeParse(JSON.parse(raw));
    return parsed.success ? (parsed.data as unknown as RegistrationResponseJSON | AuthenticationResponseJSON) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * WebAuthn ceremonies with @simplewebauthn/server: options with a fresh challenge kept in the
 * store (single use, five minutes), and verification against the challenge, the issuer's
 * origin and RP ID, the credential's owner (namespace, organization, user) and its signature
 * counter. Enrolments and counter regressions are audited here; sign-in outcomes by the pages.
 */
export class Passkeys {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly audit: AuditWriter;

  constructor(options: { store: Store; clock: Clock; audit: AuditWriter }) {
    this.store = options.store;
    this.clock = options.clock;
    this.audit = options.audit;
  }

  private async remember(challenge: string, ceremony: Ceremony): Promise<void> {
    await this.store.broker.putRequest(challengeKey(challenge), ceremony.namespace, JSON.stringify(ceremony), this.clock.now() + CHALLENGE_TTL_MS);
  }

  /** Takes the ceremony the answer's challenge names: once, and only while it is live. */
  private async take(clientDataJSON: unknown): Promise<{ challenge: string; ceremony: Ceremony } | undefined> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    const raw = await this.store.broker.takeRequest(challengeKey(challenge), this.clock.now());
    return raw ? { challenge, ceremony: Ceremony.parse(JSON.parse(raw)) } : undefined;
  }

  /** Options to enrol a new (discoverable) passkey for `user` at `rp`; the user's existing ones are excluded. */
  async registrationOptions(rp: RelyingParty, user: UserRecord): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.store.passkeys.list(user.namespace, user.id);
    const options = await generateRegistrationOptions({
      rpName: rp.name,
      rpID: rp.id,
      userName: user.email,
      userID: userHandle(user.id),
      userDisplayName: user.profile.name ?? user.email,
      timeout: TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.filter((p) => p.rpId === rp.id).map((p) => ({ id: p.id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    });
    await this.remember(options.challenge, { purpose: 'register', namespace: user.namespace, rpId: rp.id, origin: rp.origin, userId: user.id, organization: user.organization, userVerification: 'preferred' });
    return options;
  }

  /** Verifies an enrolment answer for `user` and stores the passkey under `name`. Audited either way. */
  async register(rp: RelyingParty, user: UserRecord, response: RegistrationResponseJSON, name: string, actor = user.id): Promise<PasskeyResult<PasskeyRecord>> {
    const result = await this.verifyRegistration(rp, user, response, name);
    const base = { actor, namespace: user.namespace, organization: user.organization || null, subject: user.id };
    if (!result.ok) {
      await this.audit.append({ ...base, action: 'passkey.refused', outcome: 'refused', data: { reason: result.reason, rpId: rp.id } });
      return result;
    }
    const p = result.value;
    await this.audit.append({ ...base, action: 'passkey.added', data: { credential: p.id, name: p.name, rpId: p.rpId, deviceType: p.deviceType, aaguid: p.aaguid } });
    return result;
  }

  private async verifyRegistration(rp: RelyingParty, user: UserRecord, response: RegistrationResponseJSON, name: string): Promise<PasskeyResult<PasskeyRecord>> {
    const taken = await this.take(response.response?.clientDataJSON);
    if (!taken) return { ok: false, reason: 'unknown-challenge' };
    const { ceremony, challenge } = taken;
    if (ceremony.purpose !== 'register') return { ok: false, reason: 'wrong-ceremony' };
    if (ceremony.namespace !== user.namespace || ceremony.userId !== user.id) return { ok: false, reason: 'other-user' };
    let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
    try {
      verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: ceremony.origin, expectedRPID: ceremony.rpId, requireUserVerification: false });
    } catch (error) {
      return { ok: false, reason: classify(error), detail: error instanceof Error ? error.message : String(error) };
    }
    if (!verified.verified || ceremony.rpId !== rp.id || ceremony.origin !== rp.origin) return { ok: false, reason: 'invalid' };
    const info = verified.registrationInfo;
    const now = this.clock.now();
    const passkey: PasskeyRecord = {
      id: info.credential.id,
      namespace: user.namespace,
      organization: user.organization,
      userId: user.id,
      rpId: ceremony.rpId,
      publicKey: isoBase64URL.fromBuffer(info.credential.publicKey),
      counter: info.credential.counter,
      transports: (info.credential.transports ?? []).slice(0, 8),
      name: cleanName(name) || defaultName(info.credentialDeviceType, now),
      aaguid: info.aaguid,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      createdAt: now,
      lastUsedAt: null,
    };
    // The credential and its "passkey added" message commit together (the notification outbox).
    const added = await this.store.transaction(async (tx) => {
      if (!(await tx.passkeys.add(passkey))) return false;
      await notifyPasskeyAdded(tx, user, passkey.name, now);
      return true;
    });
    if (!added) return { ok: false, reason: 'already-enrolled' };
    return { ok: true, value: passkey };
  }

  /**
   * Options to sign in with a passkey at `rp`. With `user` (a step-up after the first factor):
   * that user's passkeys for this RP. Without a user (passwordless), every discoverable credential is offered, and
   * the authenticator must verify the user.
   */
  async authenticationOptions(rp: RelyingParty, namespace: string, user?: UserRecord): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const allow = user ? (await this.store.passkeys.list(namespace, user.id)).filter((p) => p.rpId === rp.id).map((p) => ({ id: p.id, transports: p.transports })) : undefined;
    const userVerification = user ? 'preferred' : 'required';
    const options = await generateAuthenticationOptions({ rpID: rp.id, timeout: TIMEOUT_MS, userVerification, ...(allow ? { allowCredentials: allow } : {}) });
    await this.remember(options.challenge, { purpose: 'authenticate', namespace, rpId: rp.id, origin: rp.origin, userVerification, ...(user ? { userId: user.id, organization: user.organization } : {}) });
    return options;
  }

  /**
   * Verifies a sign-in answer. `organization`: the issuer's own (an organization's issuer
   * accepts only its users' passkeys); unset at the shared issuer. `user`: who must be signing
   * in (a step-up); unset for a discoverable sign-in, where the credential names the user.
   * A counter that went back is refused and audited.
   */
  async authenticate(rp: RelyingParty, namespace: string, response: AuthenticationResponseJSON, expect: { organization?: string | undefined; user?: UserRecord | undefined }): Promise<PasskeyResult<PasskeyLogin>> {
    const taken = await this.take(response.response?.clientDataJSON);
    if (!taken) return { ok: false, reason: 'unknown-challenge' };
    const { ceremony, challenge } = taken;
    if (ceremony.purpose !== 'authenticate' || ceremony.namespace !== namespace || (ceremony.userId ?? undefined) !== expect.user?.id) return { ok: false, reason: 'wrong-ceremony' };
    const passkey = await this.store.passkeys.find(response.id);
    if (!passkey) return { ok: false, reason: 'unknown-credential' };
    if (passkey.namespace !== namespace) return { ok: false, reason: 'other-namespace' };
    if (expect.organization !== undefined && passkey.organization !== expect.organization) return { ok: false, reason: 'other-organization' };
    if (expect.user && passkey.userId !== expect.user.id) return { ok: false, reason: 'other-user' };
    // A discoverable credential hands back its user handle: it must be the owner's.
    if (response.response.userHandle && response.response.userHandle !== isoBase64URL.fromBuffer(userHandle(passkey.userId))) return { ok: false, reason: 'other-user' };
    if (passkey.rpId !== rp.id || ceremony.rpId !== rp.id) return { ok: false, reason: 'wrong-rp-id' };
    let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: ceremony.origin,
        expectedRPID: ceremony.rpId,
        credential: { id: passkey.id, publicKey: isoBase64URL.toBuffer(passkey.publicKey), counter: passkey.counter, transports: passkey.transports },
        requireUserVerification: ceremony.userVerification === 'required',
      });
    } catch (error) {
      const reason = classify(error);
      if (reason === 'counter-regression') await this.counterRegression(passkey, rp, error);
      return { ok: false, reason, detail: error instanceof Error ? error.message : String(error) };
    }
    if (!verified.verified) return { ok: false, reason: 'invalid' };
    const { newCounter, userVerified } = verified.authenticationInfo;
    if (!(await this.store.passkeys.recordUse(passkey.id, newCounter, this.clock.now()))) {
      // Another use with this counter got there first: a replayed or cloned authenticator.
      await this.counterRegression(passkey, rp, new Error(`counter value ${newCounter} was already used`));
      return { ok: false, reason: 'counter-regression' };
    }
    const used = { ...passkey, counter: newCounter, lastUsedAt: this.clock.now() };
    return { ok: true, value: { passkey: used, userVerified, ...passkeyAuthentication(passkey, userVerified) } };
  }

  /** Renames one of `user`'s passkeys (audited); false when the user has no such passkey. */
  async rename(user: UserRecord, id: string, name: string): Promise<boolean> {
    if (!(await this.store.passkeys.rename(user.namespace, user.id, id, name))) return false;
    await this.audit.append({ action: 'passkey.renamed', actor: user.id, namespace: user.namespace, organization: user.organization || null, subject: user.id, data: { credential: id, name } });
    return true;
  }

  /** Removes one of `user`'s passkeys, by the user (audited); false when the user has no such passkey. */
  async remove(user: UserRecord, id: string): Promise<boolean> {
    if (!(await this.store.passkeys.remove(user.namespace, user.id, id))) return false;
    await this.audit.append({ action: 'passkey.removed', actor: user.id, namespace: user.namespace, organization: user.organization || null, subject: user.id, data: { credential: id } });
    return true;
  }

  private async counterRegression(passkey: PasskeyRecord, rp: RelyingParty, error: unknown): Promise<void> {
    await this.audit.append({
      action: 'passkey.counter-regression',
      actor: passkey.userId,
      namespace: passkey.namespace,
      organization: passkey.organization || null,
      subject: passkey.userId,
      outcome: 'refused',
      data: { credential: passkey.id, name: passkey.name, storedCounter: passkey.counter, rpId: rp.id, detail: error instanceof Error ? error.message : String(error) },
    });
  }
}

/** A name a user typed, trimmed to one line of at most 64 characters. */
export function cleanName(name: string): string {
  return name
    .replace(/[\p{Cc}\p{Cf}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, NAME_MAX);
}

function defaultName(deviceType: string, now: number): string {
  return `${deviceType === 'multiDevice' ? 'Passkey' : 'Security key'} added ${new Date(now).toISOString().slice(0, 10)}`;
}
