/**
 * What /readyz waits for. A load balancer or a rolling deploy sends traffic to a replica as
 * soon as it answers ready, so anything that would make it answer wrongly (issuers not yet
 * declared: every partner a 404) is registered here and released when done. Once stopping,
 * it is never ready again: the replica is draining.
 */
export interface ReadinessState {
  ready: boolean;
  stopping: boolean;
  /** What is still awaited, each as `{name, what}` (safe to show: no secrets, no paths beyond what the operator gave). */
  waitingFor: { name: string; what: string }[];
}

export class Readiness {
  private readonly pending = new Map<string, string>();
  private stopping = false;

  /** Registers something to wait for; call the returned function once it is done (twice is harmless). */
  wait(name: string, what: string): () => void {
    if (this.pending.has(name)) throw new Error(`readiness: "${name}" is already awaited`);
    this.pending.set(name, what);
    return () => {
      this.pending.delete(name);
    };
  }

  /** From now on not ready: shutdown has begun. */
  stop(): void {
    this.stopping = true;
  }

  state(): ReadinessState {
    const waitingFor = [...this.pending].map(([name, what]) => ({ name, what }));
    return { ready: !this.stopping && waitingFor.length === 0, stopping: this.stopping, waitingFor };
  }
}
