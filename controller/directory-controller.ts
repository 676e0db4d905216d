import type { AdminClient } from '../client/admin-client.ts';
import { ControllerLoop, type PassObserver } from './loop.ts';
import type { PassReport } from './pass-report.ts';
import { Reconciler, type DriftMode } from './reconciler.ts';
import { DirectorySource } from './sources/directory.ts';

export interface DirectoryControllerOptions {
  dir: string;
  client: AdminClient;
  /** Identity recorded on created objects; defaults to `directory:<absolute path>`. */
  owner?: string;
  out: (line: string) => void;
  watch?: boolean;
  resyncMs?: number;
  debounceMs?: number;
  concurrency?: number;
  now?: () => Date;
  observer?: PassObserver;
  /** What to do with objects changed on the server (default `correct`). */
  drift?: DriftMode;
}

export interface DirectoryController {
  loop: ControllerLoop;
  source: DirectorySource;
  reconciler: Reconciler;
  /** Resolves with the first pass that reached the server (not with a pass that failed and is being retried). */
  firstPass: Promise<PassReport>;
  stop(): Promise<void>;
}

/** The summary line `gatehouse serve --dir` and `gatehouse controller --dir` print for a pass. */
export function summarize(report: PassReport, dir: string): string {
  const parts = [`${report.created} created`, `${report.updated} updated`, `${report.unchanged} unchanged`];
  if (report.deleted) parts.push(`${report.deleted} deleted`);
  if (report.drifted) parts.push(`${report.drifted} drifted, left as changed on the server`);
  if (report.failed) parts.push(`${report.failed} failed`);
  return `applied ${report.applied} objects from ${dir} (${parts.join(', ')})`;
}

export function problemLines(report: PassReport): string[] {
  return report.problems.map((p) => (p.origin?.file ? `  ✗ ${p.origin.file}${p.origin.document ? ` (document ${p.origin.document})` : ''}: ${p.message}` : `  ✗ ${p.message}`));
}

/**
 * Reconciles a folder of YAML declarations into a server, then keeps doing so: on every change
 * of the folder (debounced; a keyed pass over the objects of the files that changed), and
 * periodically (a full pass) to put back drift. Prints a summary after the
 * first pass and after any pass that wrote something or whose problems differ from the last.
 */
export function startDirectoryController(options: DirectoryControllerOptions): DirectoryController {
  const source = new DirectorySource({ dir: options.dir });
  const reconciler = new Reconciler({
    client: options.client,
    owner: options.owner ?? `directory:${source.dir}`,
    source: 'directory',
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.drift ? { drift: options.drift } : {}),
  });
  let resolveFirst: (report: PassReport) => void;
  const firstPass = new Promise<PassReport>((resolve) => {
    resolveFirst = resolve;
  });
  let lastProblems: string | undefined;
  let lastError: string | undefined;
  const loop = new ControllerLoop({
    reconciler,
    read: () => source.read(),
    readKeys: (keys) => source.readKeys(keys),
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}),
    onPass: (report) => {
      const lines = problemLines(report);
      const fingerprint = lines.join('\n');
      if (loop.passes === 1 || report.writes > 0 || fingerprint !== lastProblems || lastError !== undefined) {
        for (const line of lines) options.out(line);
        options.out(summarize(report, options.dir));
      }
      lastProblems = fingerprint;
      lastError = undefined;
      resolveFirst(report);
    },
    onError: (error, retryInMs) => {
      const message = error instanceof Error ? error.message : String(error);
      if (message !== lastError) options.out(`controller: ${message}; retrying (next in ${(retryInMs / 1000).toFixed(1)} s)`);
      lastError = message;
    },
  });
  // A change maps to the keys its files declare or declared (a keyed pass); when it cannot, a full pass.
  const onChange = (paths?: ReadonlySet<string>) => {
    if (!paths) {
      loop.trigger();
      return;
    }
    source.changed(paths).then(
      (keys) => (keys ? loop.enqueue(keys) : loop.trigger()),
      () => loop.trigger(),
    );
  };
  const unwatch = options.watch === false ? () => {} : source.watch(onChange, options.debounceMs);
  loop.start();
  return {
    loop,
    source,
    reconciler,
    firstPass,
    async stop() {
      unwatch();
      await loop.stop();
    },
  };
}
