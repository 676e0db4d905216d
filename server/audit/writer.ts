import type { Clock } from '../clock.ts';
import type { AuditEntry, Store } from '../store/index.ts';
import { TransactionAppender, type AuditAppender } from './thread-appender.ts';
import { withRequestId } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';

interface Pending {
  entry: AuditEntry;
  at: number;
  /** performance.now() when asked, for the append-latency histogram. */
  asked: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Appends runtime audit records (sign-ins, token decisions) with group commit: records
 * that arrive while a batch is being written go together into the next transaction.
 * Every caller waits for its own record to be durable, so a response never leaves
 * before its audit record; nothing is dropped under load.
 */
export class AuditWriter {
  private readonly clock: Clock;
  private readonly appender: AuditAppender;
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly metrics: Metrics | undefined;
  private readonly observers: ((entry: AuditEntry) => void)[] = [];

  constructor(options: { store: Store; clock: Clock; maxBatch?: number; appender?: AuditAppender; metrics?: Metrics }) {
    this.clock = options.clock;
    this.metrics = options.metrics;
    this.appender = options.appender ?? new TransactionAppender(options.store);
    this.maxBatch = options.maxBatch ?? 512;
  }

  append(entry: AuditEntry): Promise<void> {
    // The event loop is here anyway: let callers whose records are already committed go on.
    this.appender.settle();
    // Tagged here, in the caller's context: the batch is written in whichever request's context started it.
    const data = withRequestId(entry.data);
    if (data !== entry.data) entry = { ...entry, data };
    this.metrics?.observeAudit(entry);
    for (const observe of this.observers) observe(entry);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entry, at: this.clock.now(), asked: performance.now(), resolve, reject });
      this.writing ??= this.drain();
    });
  }

  /** Is shown every record as it is appended (the risk engine counts failed sign-ins from them). */
  onAppend(observe: (entry: AuditEntry) => void): void {
    this.observers.push(observe);
  }

  /** Waits for the records already appended, then releases what the appender holds (its thread). */
  async close(): Promise<void> {
    await this.writing;
    await Promise.all(this.inFlight);
    await this.appender.close();
  }

  private async drain(): Promise<void> {
    // Let the records of requests handled in the same turn of the event loop join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const written = this.appender.append(batch.map(({ entry, at }) => ({ entry, at }))).then(
        () => {
          const histogram = this.metrics?.auditAppendSeconds;
          if (histogram) {
            const now = performance.now();
            for (const p of batch) histogram.observe((now - p.asked) / 1000);
          }
          batch.forEach((p) => p.resolve());
        },
        (error: unknown) => {
          this.metrics?.storeErrors.inc({ operation: 'audit_append' });
          batch.forEach((p) => p.reject(error));
        },
      );
      this.inFlight.add(written);
      void written.finally(() => this.inFlight.delete(written));
      // An appender that keeps batches in order takes the next one at once, so no record
      // waits for an earlier batch's acknowledgement to travel back before it is even sent.
      if (!this.appender.pipelined) await written;
    }
    this.writing = undefined;
  }
}
