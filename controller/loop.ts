import { keyOf, type DesiredState } from './desired-state.ts';
import type { PassReport } from './pass-report.ts';
import type { Reconciler } from './reconciler.ts';

/** Told how each pass went (the CLI feeds Prometheus metrics from it). */
export interface PassObserver {
  passed(seconds: number, report: PassReport): void;
  failed(seconds: number): void;
}

export interface LoopOptions {
  reconciler: Reconciler;
  /** Reads the whole desired state afresh: a full pass is level-triggered, never an event replay. */
  read: () => Promise<DesiredState>;
  /**
   * The declarations of some keys (`keyOf`) as the source holds them now: what a keyed pass
   * reconciles. Without it every change makes a full pass.
   */
  readKeys?: (keys: ReadonlySet<string>) => Promise<DesiredState>;
  onPass?: (report: PassReport, state: DesiredState) => void | Promise<void>;
  onError?: (error: unknown, retryInMs: number) => void;
  observer?: PassObserver;
  /** A full pass runs this often even without a change, to put back drift made through the admin API. */
  resyncMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  random?: () => number;
}

/**
 * Runs reconcile passes one at a time, as controller-runtime's work queue does: `enqueue(keys)`
 * marks objects dirty (deduplicated while they wait), and the next pass reconciles just those
 * keys (a keyed pass: its cost is the change's, not the workspace's). `trigger()` asks for a
 * full pass instead: on start, on a change the source cannot map to keys, every `resyncMs`
 * (the safety net), and after a failed pass with exponential backoff and full jitter. A key
 * refused because what it references is not there yet is requeued once a later pass creates
 * or updates something, and the resync covers it in any case.
 */
export class ControllerLoop {
  private readonly options: Required<Omit<LoopOptions, 'onPass' | 'onError' | 'observer' | 'readKeys'>> & Pick<LoopOptions, 'onPass' | 'onError' | 'observer' | 'readKeys'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private fullPending = false;
  private readonly dirty = new Set<string>();
  /** Keys refused for a reference that does not exist yet. */
  private readonly waiting = new Set<string>();
  private stopped = true;
  private failures = 0;
  private readonly idleWaiters: (() => void)[] = [];
  passes = 0;
  /** Of which keyed passes. */
  keyedPasses = 0;
  lastReport: PassReport | undefined;

  constructor(options: LoopOptions) {
    this.options = { resyncMs: 30_000, backoffBaseMs: 500, backoffMaxMs: 30_000, random: Math.random, ...options };
  }

  start(): void {
    this.stopped = false;
    this.trigger();
  }

  /** Asks for a full pass soon; several triggers during a pass make one more pass, not several. */
  trigger(): void {
    if (this.stopped) return;
    this.fullPending = true;
    this.kick();
  }

  /** Marks objects dirty: they are reconciled in the next pass (a keyed one unless a full pass is due). */
  enqueue(keys: Iterable<string>): void {
    if (this.stopped) return;
    for (const key of keys) this.dirty.add(key);
    this.kick();
  }

  /** Resolves once no pass is running or queued (for tests and `--once`). */
  async idle(): Promise<void> {
    if (!this.running && !this.fullPending && this.dirty.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.fullPending = false;
    this.dirty.clear();
    clearTimeout(this.timer);
    await this.running;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private kick(): void {
    if (this.stopped || this.running || (!this.fullPending && this.dirty.size === 0)) return;
    let keys: Set<string> | undefined;
    if (this.fullPending || !this.options.readKeys) {
      // The full pass reads after this point, so it covers every key marked dirty so far.
      clearTimeout(this.timer);
      this.fullPending = false;
      this.dirty.clear();
    } else {
      keys = new Set(this.dirty);
      this.dirty.clear();
    }
    this.running = this.runPass(keys).finally(() => {
      this.running = undefined;
      if (!this.stopped && (this.fullPending || this.dirty.size > 0)) this.kick();
      else for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.trigger(), ms);
    this.timer.unref();
  }

  private async runPass(keys: Set<string> | undefined): Promise<void> {
    const started = performance.now();
    try {
      const state = keys ? await this.options.readKeys!(keys) : await this.options.read();
      const report = keys ? await this.options.reconciler.reconcileKeys(state, keys) : await this.options.reconciler.reconcile(state);
      this.options.observer?.passed((performance.now() - started) / 1000, { ...report, failed: this.failingAfter(report) });
      this.passes++;
      if (keys) this.keyedPasses++;
      this.failures = 0;
      this.lastReport = report;
      await this.options.onPass?.(report, state);
      this.requeueWaiting(report);
      // A keyed pass leaves the resync where it was: the safety net runs on its own clock.
      if (!keys) this.schedule(this.options.resyncMs);
    } catch (error) {
      this.options.observer?.failed((performance.now() - started) / 1000);
      this.failures++;
      const { backoffBaseMs, backoffMaxMs, random } = this.options;
      const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** (this.failures - 1));
      // Full jitter keeps several controllers from retrying in step against a recovering server.
      const wait = Math.max(50, Math.round(random() * ceiling));
      this.options.onError?.(error, wait);
      // The retry is a full pass: it covers the keys of a keyed pass that failed.
      this.schedule(wait);
    }
  }

  /** Keys failing as of the last pass that covered them: a keyed pass speaks for its keys only. */
  private readonly failing = new Set<string>();

  /** Objects failing across the workspace after this pass (what the failed-objects gauge shows). */
  private failingAfter(report: PassReport): number {
    if (!report.keys) this.failing.clear();
    else for (const key of report.keys) this.failing.delete(key);
    let targeted = 0;
    for (const result of report.results) {
      if (result.outcome !== 'failed') continue;
      targeted++;
      this.failing.add(keyOf(result.key));
    }
    // Problems that name no object are in every pass's report.
    return this.failing.size + (report.failed - targeted);
  }

  private requeueWaiting(report: PassReport): void {
    const inPass = (key: string) => (report.keys ? report.keys.has(key) : true);
    if (report.created + report.updated > 0) {
      const again = [...this.waiting].filter((k) => !inPass(k));
      for (const key of again) this.waiting.delete(key);
      if (again.length > 0 && this.options.readKeys) this.enqueue(again);
    }
    for (const result of report.results) {
      const key = keyOf(result.key);
      if (result.outcome === 'failed' && result.readiness.reason === 'InvalidReference') this.waiting.add(key);
      else this.waiting.delete(key);
    }
  }
}
