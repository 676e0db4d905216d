import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { Sealer } from '../secrets/sealer.ts';
import type { Repositories, Store } from '../store/index.ts';

export const TOTP_SCOPE = 'totp';
const PERIOD = 30;
/** Ten, as the issue asks and most products give (GitHub 16, Google 10): each works once. */
const RECOVERY_CODES = 10;

const Factor = z.object({
  secret: z.string(),
  confirmed: z.boolean(),
  recovery: z.array(z.string()),
  /** The last time step accepted: a code is good once (RFC 6238 section 5.2). */
  lastStep: z.number(),
});
type Factor = z.infer<typeof Factor>;

const hash = (code: string) => createHash('sha256').update(code.replace(/[\s-]/g, '').toLowerCase()).digest('hex');

export type Verification = { ok: true; method: 'otp' | 'recovery-code'; remainingRecoveryCodes: number } | { ok: false };

/** Where a user's TOTP factor is sealed, in the `totp` scope of the secret store. */
export function totpRow(namespace: string, userId: string): string {
  return `${namespace}/${userId}`;
}

/**
 * TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s — what every authenticator app reads).
 * The shared secret is sealed (it must be read back to compute codes); recovery codes
 * are random, shown once and kept as SHA-256 hashes.
 */
export class TotpFactors {
  private readonly store: Store;
  private readonly sealer: Sealer;
  private readonly clock: Clock;

  constructor(options: { store: Store; sealer: Sealer; clock: Clock }) {
    this.store = options.store;
    this.sealer = options.sealer;
    this.clock = options.clock;
  }

  private static row(namespace: string, userId: string) {
    return totpRow(namespace, userId);
  }

  private async load(namespace: string, userId: string): Promise<Factor | undefined> {
    const row = TotpFactors.row(namespace, userId);
    const stored = await this.store.secrets.get(TOTP_SCOPE, row);
    return stored ? Factor.parse(JSON.parse(this.sealer.open(stored.sealed, `${TOTP_SCOPE} ${row}`))) : undefined;
  }

  private async save(namespace: string, userId: string, factor: Factor, repo: Repositories = this.store): Promise<void> {
    const row = TotpFactors.row(namespace, userId);
    await repo.secrets.put(TOTP_SCOPE, row, this.sealer.seal(JSON.stringify(factor), `${TOTP_SCOPE} ${row}`), this.clock.now());
  }

  async enrolled(namespace: string, userId: string): Promise<boolean> {
    return (await this.load(namespace, userId))?.confirmed === true;
  }

  private totp(secret: string, label: string, issuer: string): TOTP {
    return new TOTP({ issuer, label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secret) });
  }

  /** Starts (or restarts, until confirmed) an enrolment; returns what the authenticator app needs. */
  async beginEnrolment(namespace: string, userId: string, label: string, issuer: string): Promise<{ secret: string; uri: string }> {
    const existing = await this.load(namespace, userId);
    if (existing?.confirmed) throw new Error('already enrolled');
    const secret = existing?.secret ?? new Secret({ size: 20 }).base32;
    if (!existing) await this.save(namespace, userId, { secret, confirmed: false, recovery: [], lastStep: 0 });
    return { secret, uri: this.totp(secret, label, issuer).toString() };
  }

  /** Checks a code from the app (or, once enrolled, a recovery code, used once). */
  async verify(namespace: string, userId: string, code: string): Promise<Verification> {
    const factor = await this.load(namespace, userId);
    if (!factor) return { ok: false };
    const digits = code.replace(/\s+/g, '');
    if (/^\d{6}$/.test(digits)) {
      const now = this.clock.now();
      const delta = this.totp(factor.secret, 'x', 'x').validate({ token: digits, timestamp: now, window: 1 });
      if (delta === null) return { ok: false };
      const step = Math.floor(now / 1000 / PERIOD) + delta;
      if (step <= factor.lastStep) return { ok: false };
      await this.save(namespace, userId, { ...factor, lastStep: step });
      return { ok: true, method: 'otp', remainingRecoveryCodes: factor.recovery.length };
    }
    if (!factor.confirmed) return { ok: false };
    const presented = Buffer.from(hash(code), 'hex');
    const index = factor.recovery.findIndex((h) => timingSafeEqual(Buffer.from(h, 'hex'), presented));
    if (index < 0) return { ok: false };
    const recovery = factor.recovery.filter((_, i) => i !== index);
    await this.save(namespace, userId, { ...factor, recovery });
    return { ok: true, method: 'recovery-code', remainingRecoveryCodes: recovery.length };
  }

  /**
   * Confirms the enrolment after a first good code; returns the recovery codes, the only time
   * they are readable. `within` runs in the same transaction (the "MFA enrolled" message).
   */
  async confirm(namespace: string, userId: string, within?: (repo: Repositories) => Promise<void>): Promise<string[]> {
    const factor = await this.load(namespace, userId);
    if (!factor) throw new Error('no enrolment');
    const codes = Array.from({ length: RECOVERY_CODES }, () => {
      const raw = randomBytes(8).toString('hex');
      return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8, 12)}-${raw.slice(12)}`;
    });
    await this.store.transaction(async (repo) => {
      await this.save(namespace, userId, { ...factor, confirmed: true, recovery: codes.map(hash) }, repo);
      await within?.(repo);
    });
    return codes;
  }

  async reset(namespace: string, userId: string): Promise<void> {
    await this.store.secrets.delete(TOTP_SCOPE, TotpFactors.row(namespace, userId));
  }
}
