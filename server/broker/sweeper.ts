import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/index.ts';

export interface SweepResult {
  brokerRequests: number;
  samlAssertions: number;
  /** oidc-provider's codes, sessions, interactions, grants and refresh tokens past their expiry. */
  oidcModels: number;
  /** Records of JWT access tokens (for revocation) whose tokens have expired. */
  accessTokens: number;
}

export interface SweeperOptions {
  store: Store;
  clock: Clock;
  logger?: Logger;
  /** Rows deleted per statement: each statement stays short, so sign-ins never queue behind a sweep. */
  batchSize?: number;
  /** Statements per table per tick: a tick's work is bounded; a bigger backlog is finished by the next ticks. */
  maxBatches?: number;
}

/**
 * Removes what sign-ins and tokens leave behind once it can no longer be used: pending
 * sign-ins (`broker_requests`) past their expiry — abandoned at the partner's IdP or at the
 * TOTP page — and SAML assertion IDs (`saml_assertions`) past the assertion's own expiry,
 * after which node-saml refuses the assertion anyway, so the replay cache no longer needs
 * it; oidc-provider's rows (`oidc_models`: codes, sessions, interactions, grants, refresh
 * tokens) past their expiry — a consumed refresh token goes only once it has expired, so
 * reuse detection keeps working while it could still be presented; and the revocation
 * records of JWT access tokens (`access_tokens`) whose tokens have expired, which `exp`
 * refuses anyway. Expired rows are never read (every read asks `expires_at > now`, JWTs
 * are checked for `exp` first), so sweeping changes no answer, only the size of the store.
 * Safe on several replicas: each DELETE is idempotent.
 */
export class BrokerSweeper {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly batchSize: number;
  private readonly maxBatches: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;

  constructor(options: SweeperOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.batchSize = options.batchSize ?? 500;
    this.maxBatches = options.maxBatches ?? 20;
  }

  private async drain(remove: (now: number, limit: number) => Promise<number>, now: number): Promise<number> {
    let total = 0;
    for (let i = 0; i < this.maxBatches; i++) {
      const removed = await remove(now, this.batchSize);
      total += removed;
      if (removed < this.batchSize) break;
    }
    return total;
  }

  /** One sweep at the clock's now; concurrent calls share the sweep in progress. */
  tick(): Promise<SweepResult> {
    this.running ??= (async () => {
      try {
        const now = this.clock.now();
        const { broker, oidc, accessTokens } = this.store;
        return {
          brokerRequests: await this.drain((t, n) => broker.deleteExpiredRequests(t, n), now),
          samlAssertions: await this.drain((t, n) => broker.deleteExpiredAssertions(t, n), now),
          oidcModels: await this.drain((t, n) => oidc.deleteExpired(t, n), now),
          accessTokens: await this.drain((t, n) => accessTokens.deleteExpired(t, n), now),
        };
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Sweeps every `intervalMs` until `stop`; errors are logged and the next tick tries again. */
  start(intervalMs = 5 * 60_000): void {
    this.stop();
    this.timer = setInterval(() => void this.tick().catch((error: unknown) => this.logger?.error('sweep of expired rows failed', error)), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep in progress, so the store can be closed after it. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
