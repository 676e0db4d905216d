import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { AuditEntry } from '../store/index.ts';

/** What was refused: a bearer token (admin API, userinfo) or a redirect URI no client registered. */
export type RefusalKind = 'token' | 'redirect-uri';

/**
 * The audit action of each kind of refused attempt, beside `access.refused-network` and
 * `access.rate-limited`; `access.refusals-suppressed` counts those left out of the log.
 */
export const REFUSAL_ACTIONS = {
  token: 'access.refused-token',
  'redirect-uri': 'access.refused-redirect-uri',
  suppressed: 'access.refusals-suppressed',
} as const;

/**
 * A presented credential as the log may name it: a hash prefix, never the credential. The
 * label keeps it apart from the token hashes the store keeps (admin tokens), so a refused
 * token's fingerprint cannot be matched against them.
 */
export function fingerprint(credential: string): string {
  return createHash('sha256').update(`gatehouse refused credential\n${credential}`).digest('hex').slice(0, 16);
}

/**
 * Why a bearer token was not accepted: `unknown` (no admin token, no live opaque token of
 * ours), `malformed`, `expired`, `revoked`, `bad-signature`, `unknown-key` (no key of the
 * issuer's namespace has its kid: another namespace's, or not ours), `alg-not-allowed`
 * (`none` among them), `unknown-issuer`, `invalid-claims`, `no-user` (client credentials),
 * `not-accepted-here` (a valid token of ours, of a kind this endpoint does not take).
 */
export type RefusedReason = 'unknown' | 'malformed' | 'expired' | 'revoked' | 'bad-signature' | 'unknown-key' | 'alg-not-allowed' | 'unknown-issuer' | 'invalid-claims' | 'no-user' | 'not-accepted-here';

/** jose's error codes, as the reasons the audit log names. */
const JOSE_REASONS: Record<string, RefusedReason> = {
  ERR_JWT_EXPIRED: 'expired',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad-signature',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown-key',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'unknown-key',
  ERR_JOSE_ALG_NOT_ALLOWED: 'alg-not-allowed',
  ERR_JOSE_NOT_SUPPORTED: 'alg-not-allowed',
  ERR_JWT_CLAIM_VALIDATION_FAILED: 'invalid-claims',
  ERR_JWS_INVALID: 'malformed',
  ERR_JWT_INVALID: 'malformed',
};

/** A JWT with no signature whose header says `alg: none`: refused before any key is looked up. */
export function isUnsignedJwt(token: string): boolean {
  const match = /^([\w-]+)\.[\w-]+\.$/.exec(token);
  if (!match) return false;
  try {
    return (JSON.parse(Buffer.from(match[1]!, 'base64url').toString()) as { alg?: unknown }).alg === 'none';
  } catch {
    return false;
  }
}

export function refusedReason(error: unknown): RefusedReason {
  const { code, claim } = (error ?? {}) as { code?: unknown; claim?: unknown };
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iss') return 'unknown-issuer';
  return (typeof code === 'string' ? JOSE_REASONS[code] : undefined) ?? 'malformed';
}

export interface RefusalLimits {
  /** Records per source address and kind in one window; further refusals are counted. */
  perSource: number;
  /** Records of every source together in one window (a flood from many addresses). */
  overall: number;
  windowMs: number;
  /** Sources tracked at once; the oldest window is closed (its summary written) to make room. */
  maxSources: number;
}

export const DEFAULT_REFUSAL_LIMITS: RefusalLimits = { perSource: 5, overall: 300, windowMs: 60_000, maxSources: 10_000 };

interface Window {
  kind: RefusalKind;
  address: string;
  start: number;
  written: number;
  suppressed: number;
}

const OVERALL = '*';

/**
 * Audits refused attempts without letting a flood fill the log. In each window, a source
 * address gets its first `perSource` refusals of a kind recorded, and all sources together
 * `overall`; the rest are counted, and one `access.refusals-suppressed` record with the
 * count is written when the window is seen to have closed (the next refusal, or a timer
 * that runs only while counts are pending). The flood bound, per window: a source writes
 * at most perSource records of a kind plus one summary; the server at most `overall`
 * records, one summary per source that reached perSource (at most overall / perSource of
 * them) and one summary of its own (address "*") — with the defaults, 361 a minute and kind.
 */
export class RefusalAudit {
  private readonly append: (entry: AuditEntry) => Promise<void>;
  private readonly clock: Clock;
  private readonly limits: RefusalLimits;
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: { append: (entry: AuditEntry) => Promise<void>; clock: Clock; limits?: Partial<RefusalLimits> }) {
    this.append = options.append;
    this.clock = options.clock;
    this.limits = { ...DEFAULT_REFUSAL_LIMITS, ...options.limits };
  }

  /** Records the refusal (`entry`, whose action is the kind's) unless its source's or the server's window is full. */
  async record(kind: RefusalKind, address: string, entry: Omit<AuditEntry, 'action' | 'outcome'>): Promise<void> {
    const now = this.clock.now();
    await this.flush(now);
    const source = this.window(`${kind} ${address}`, kind, address, now);
    const overall = this.window(`${kind} ${OVERALL}`, kind, OVERALL, now);
    // Past the server's cap, the count is the server's: a flood from many addresses then
    // writes one summary, not one per address.
    const full = source.written >= this.limits.perSource ? source : overall.written >= this.limits.overall ? overall : undefined;
    if (full) {
      full.suppressed++;
      this.timer ??= setInterval(() => void this.flush(this.clock.now()), Math.max(1000, this.limits.windowMs / 2)).unref();
      return;
    }
    source.written++;
    overall.written++;
    await this.append({ ...entry, action: REFUSAL_ACTIONS[kind], outcome: 'refused', data: { ...entry.data, address } });
  }

  /**
   * Writes the summary of every window closed by `now` that left refusals out. Windows are
   * kept in the order they opened, so this reads only the closed ones: a flood does not make
   * each refusal walk every source.
   */
  async flush(now = this.clock.now()): Promise<void> {
    const closed: Window[] = [];
    for (const [key, w] of this.windows) {
      if (now - w.start < this.limits.windowMs) break;
      this.windows.delete(key);
      if (w.suppressed > 0) closed.push(w);
    }
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    await Promise.all(closed.map((w) => this.summarise(w, now)));
  }

  /** Writes what is still counted (at shutdown) and stops the timer. */
  async close(): Promise<void> {
    const pending = [...this.windows.values()].filter((w) => w.suppressed > 0);
    this.windows.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(pending.map((w) => this.summarise(w, this.clock.now())));
  }

  private window(key: string, kind: RefusalKind, address: string, now: number): Window {
    let w = this.windows.get(key);
    if (!w) {
      if (this.windows.size >= this.limits.maxSources) {
        // The oldest window goes; its count is not lost, its summary is written now.
        const [oldestKey, oldest] = this.windows.entries().next().value!;
        this.windows.delete(oldestKey);
        if (oldest.suppressed > 0) void this.summarise(oldest, now);
      }
      w = { kind, address, start: now, written: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    return w;
  }

  private summarise(w: Window, now: number): Promise<void> {
    return this.append({
      action: REFUSAL_ACTIONS.suppressed,
      actor: 'gatehouse',
      outcome: 'refused',
      data: { kind: w.kind, address: w.address, suppressed: w.suppressed, since: new Date(w.start).toISOString(), until: new Date(Math.min(now, w.start + this.limits.windowMs)).toISOString() },
    });
  }
}
