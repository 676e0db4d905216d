import type { DesiredState, PassReport, Reconciler } from './reconciler.ts';

/** Told how each pass went (the CLI feeds Prometheus metrics from it). */
export interface PassObserver {
  passed(seconds: number, report: PassReport): void;
  failed(seconds: number): void;
}

export interface LoopOptions {
  reconciler: Reconciler;
  /** Reads the whole desired state afresh: every pass is level-triggered, never an event replay. */
  read: () => Promise<DesiredState>;
  onPass?: (report: PassReport, state: DesiredState) => void | Promise<void>;
  onError?: (error: unknown, retryInMs: number) => void;
  observer?: PassObserver;
  /** A pass runs this often even without a change, to put back drift made through the admin API. */
  resyncMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
}

/**
 * Runs reconcile passes one at a time: on start, on every `trigger()` (coalesced while a pass
 * runs), every `resyncMs`, and after a failed pass with exponential backoff and full jitter.
 */
export class ControllerLoop {
  private readonly options: Required<Omit<LoopOptions, 'onPass' | 'onError' | 'observer'>> & Pick<LoopOptions, 'onPass' | 'onError' | 'observer'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private stopped = true;
  private failures = 0;
  private readonly idleWaiters: (() => void)[] = [];
  passes = 0;
  lastReport: PassReport | undefined;

  constructor(options: LoopOptions) {
    this.options = { resyncMs: 30_000, backoffBaseMs: 500, backoffMaxMs: 30_000, random: Math.random, ...options };
  }

  start(): void {
    this.stopped = false;
    this.trigger();
  }

  /** Asks for a pass soon; several triggers during a pass make one more pass, not several. */
  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.runPass().finally(() => {
      this.running = undefined;
      if (this.pending && !this.stopped) {
        this.pending = false;
        this.trigger();
      } else {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    });
  }

  /** Resolves once no pass is running or queued (for tests and `--once`). */
  async idle(): Promise<void> {
    if (!this.running && !this.pending) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pending = false;
    clearTimeout(this.timer);
    await this.running;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.trigger(), ms);
    this.timer.unref();
  }

  private async runPass(): Promise<void> {
    const started = performance.now();
    try {
      const state = await this.options.read();
      const report = await this.options.reconciler.reconcile(state);
      this.options.observer?.passed((performance.now() - started) / 1000, report);
      this.passes++;
      this.failures = 0;
      this.lastReport = report;
      await this.options.onPass?.(report, state);
      this.schedule(this.options.resyncMs);
    } catch (error) {
      this.options.observer?.failed((performance.now() - started) / 1000);
      this.failures++;
      const { backoffBaseMs, backoffMaxMs, random } = this.options;
      const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.failures - 1));
      // Full jitter keeps several controllers from retrying in step against a recovering server.
      const wait = Math.max(50, Math.round(random() * ceiling));
      this.options.onError?.(error, wait);
      this.schedule(wait);
    }
  }
}
