import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';

export interface LeaderElectorOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  /** This replica (its pod name); two replicas must never share one. */
  identity: string;
  leaseDurationSeconds?: number;
  renewMs?: number;
  now?: () => Date;
  onStartedLeading: () => void;
  onStoppedLeading: () => void | Promise<void>;
}

const statusOf = (error: unknown): number | undefined => (error as { code?: number }).code;

/**
 * Leader election over a coordination.k8s.io Lease (the client ships none): the holder renews
 * it; another replica takes it only once `renewTime + leaseDurationSeconds` has passed. Every
 * write carries the resourceVersion it read, so two replicas racing for an expired lease
 * cannot both win (the loser gets 409 Conflict).
 */
export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectorOptions, 'now'>> & { now: () => Date };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  leading = false;

  constructor(options: LeaderElectorOptions) {
    this.options = { leaseDurationSeconds: 15, renewMs: 5000, now: () => new Date(), ...options };
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stops renewing and, when leading, gives the lease up so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    await this.setLeading(false);
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.options.identity) {
        await this.options.api.replaceNamespacedLease({
          namespace: this.options.namespace,
          name: this.options.name,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } },
        });
      }
    } catch {
      // It expires by itself.
    }
  }

  /** One acquire-or-renew attempt; true when this replica holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = this.options.now();
    try {
      const lease = await this.read();
      if (!lease) {
        await api.createNamespacedLease({
          namespace,
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
        return true;
      }
      const spec = lease.spec ?? {};
      const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
      const expired = renewed + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
      const mine = spec.holderIdentity === identity;
      if (!mine && spec.holderIdentity && !expired) return false;
      await api.replaceNamespacedLease({
        namespace,
        name,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds,
            renewTime: now,
            ...(mine ? {} : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
          },
        },
      });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      // The API server unreachable: a leader that cannot renew must assume it lost the lease.
      return false;
    }
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.options.api.readNamespacedLease({ namespace: this.options.namespace, name: this.options.name });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async setLeading(leading: boolean): Promise<void> {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else await this.options.onStoppedLeading();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const holds = await this.tryAcquireOrRenew();
    if (this.stopped) return;
    await this.setLeading(holds);
    this.timer = setTimeout(() => void this.tick(), this.options.renewMs);
    this.timer.unref();
  }
}
