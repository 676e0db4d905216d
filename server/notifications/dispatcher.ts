import { createHash, randomUUID } from 'node:crypto';
import { MESSAGE_NAMES, type MessageName } from '../../api/index.ts';
import type { FetchGuardOptions } from '../broker/upstreams/fetch-guard.ts';
import type { Clock } from '../clock.ts';
import { loadNamespace } from '../governance/organizations.ts';
import type { Logger } from '../log.ts';
import type { NotificationRecord, Store } from '../store/index.ts';
import { postWebhook, type SmtpChannel } from './channels.ts';
import { RESET_PURPOSE } from '../users/recovery.ts';
import { pseudonym } from './outbox.ts';
import { renderMessage } from './templates.ts';

export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Email; without it messages are `held`: kept for the admin API and the CLI, their link logged. */
  smtp?: SmtpChannel | undefined;
  /** Reads a webhook's secret (the Workspace's `notifications.webhook.secretRef`). */
  secret: (namespace: string, ref: { name: string; key: string }) => Promise<string | undefined>;
  /** Keys the recipient's pseudonym in the audit. */
  pseudonymKey: string;
  /** How long one replica holds the messages it is sending (ms); another takes them over after. */
  leaseMs?: number;
  /** First retry after this (ms), doubling each attempt up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  maxAttempts?: number;
  batch?: number;
  /** The webhook fetch's guard (loopback http allowed only for tests and the demo). */
  fetch?: FetchGuardOptions;
  /** Where a held message's link is shown (the console of `npm start` / `npm run demo`). */
  onHeld?: (line: string) => void;
  /** How often held messages are looked at again for a channel that appeared (ms; the first tick always looks). */
  heldCheckMs?: number;
}

/** Variables that are credentials while unused: kept only until the message is handed to a channel. */
const SECRET_VARIABLES = ['link'];
const isMessage = (m: string): m is MessageName => (MESSAGE_NAMES as string[]).includes(m);
/** The messages that carry a one-time link (its token in `?token=`), and the purposes such a link is stored under. */
const LINK_MESSAGES = new Set(['invitation', 'password-reset']);
const LINK_PURPOSES = ['set-password', RESET_PURPOSE];

/**
 * Sends the outbox: leases due messages (so replicas never send one twice while a lease holds),
 * renders each with its organization's templates, hands it to every configured channel, and
 * records the outcome with `notification.sent` / `notification.failed` in the audit (the
 * recipient as a keyed hash). A failed attempt is retried with exponential backoff; channels
 * that already took the message are not tried again. Messages written while the server was down
 * (or whose holder died mid-send) are sent once a lease is free: at least once, and exactly once
 * unless a process dies between a channel accepting and the outcome being recorded.
 */
export class NotificationDispatcher {
  private readonly options: DispatcherOptions;
  private readonly owner = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private heldCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(options: DispatcherOptions) {
    this.options = options;
  }

  private get leaseMs() {
    return this.options.leaseMs ?? 60_000;
  }

  /** Sends what is due now; returns how many messages were settled (sent, held, failed or rescheduled). */
  tick(): Promise<number> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<number> {
    const { store, clock } = this.options;
    let settled = 0;
    if (clock.now() - this.heldCheckedAt >= (this.options.heldCheckMs ?? 30_000)) {
      this.heldCheckedAt = clock.now();
      await this.releaseHeld();
    }
    for (;;) {
      const now = clock.now();
      const due = await store.notifications.lease(this.owner, now, now + this.leaseMs, this.options.batch ?? 20);
      if (!due.length) return settled;
      for (const n of due) {
        // A batch can outlast its lease (slow mail servers): each message's lease is renewed right before its attempt.
        if (!(await store.notifications.renew(n.id, this.owner, clock.now() + this.leaseMs))) continue;
        await this.attempt(n);
        settled++;
      }
    }
  }

  /**
   * Messages held for want of a channel go out once one exists: every namespace's when the
   * server has SMTP (it was restarted with GATEHOUSE_SMTP_URL), a namespace's when its Workspace
   * declares a webhook. They are pending again, and each attempt first checks it is still useful.
   */
  private async releaseHeld(): Promise<void> {
    const { store, clock, logger } = this.options;
    for (const namespace of await store.notifications.heldNamespaces()) {
      if (!this.options.smtp && !(await loadNamespace(store, namespace)).workspace?.spec.notifications?.webhook) continue;
      const released = await store.notifications.release(namespace, clock.now());
      if (released > 0) logger.info('held notifications released to a channel', { namespace, count: released });
    }
  }

  /**
   * Why a message is no longer worth sending, if it is not: an invitation or a reset whose
   * one-time link no longer works (expired, used, or replaced by a newer one) would only
   * mislead, as would asking an approver to decide a request already decided.
   */
  private async uselessBecause(n: NotificationRecord, now: number): Promise<string | undefined> {
    const link = n.variables.link;
    if (n.message === 'access-request-pending') {
      // An approver asked to decide a request someone already decided would only find it closed.
      const id = /\/access-requests\/(ar-[0-9a-f]{18})$/.exec(link ?? '')?.[1];
      const request = id ? await this.options.store.accessRequests.find(n.namespace, id) : undefined;
      return request && request.state !== 'pending' ? `the access request was ${request.state} meanwhile` : undefined;
    }
    if (!LINK_MESSAGES.has(n.message) || !link || !URL.canParse(link)) return undefined;
    const token = new URL(link).searchParams.get('token');
    if (!token) return undefined;
    const tokenHash = createHash('sha256').update(token).digest('hex');
    for (const purpose of LINK_PURPOSES) if (await this.options.store.users.peekLink(tokenHash, purpose, now)) return undefined;
    return 'its one-time link no longer works (expired, used or replaced)';
  }

  private async attempt(n: NotificationRecord): Promise<void> {
    const { store, clock, logger } = this.options;
    const view = await loadNamespace(store, n.namespace);
    const done = new Set((n.channel ?? '').split(',').filter(Boolean));
    const errors: string[] = [];
    const attempts = n.attempts + 1;
    if (!isMessage(n.message)) {
      await this.settle(n, { state: 'failed', attempts, channel: n.channel, error: `unknown message ${n.message}` });
      return;
    }
    const useless = await this.uselessBecause(n, clock.now());
    if (useless) {
      await this.settle(n, { state: 'expired', attempts: n.attempts, channel: n.channel, error: useless });
      return;
    }
    const rendered = renderMessage(view, n.organization, n.message, n.variables);
    const outgoing = { id: n.id, namespace: n.namespace, organization: n.organization, message: n.message, to: n.recipient, rendered };
    const webhook = view.workspace?.spec.notifications?.webhook;
    const channels: { name: string; send: () => Promise<void> }[] = [];
    if (this.options.smtp) {
      const smtp = this.options.smtp;
      channels.push({ name: 'smtp', send: () => smtp.send(outgoing) });
    }
    if (webhook) {
      channels.push({
        name: 'webhook',
        send: async () => {
          const secret = await this.options.secret(n.namespace, webhook.secretRef);
          if (secret === undefined) throw new Error(`the webhook's secret ${webhook.secretRef.name}/${webhook.secretRef.key} does not exist`);
          await postWebhook(webhook.url, secret, outgoing, clock.now(), this.options.fetch ?? {});
        },
      });
    }
    if (!channels.length) {
      // No channel: the message stays readable through the admin API and the CLI; a newcomer running the server locally follows its link from the console.
      const link = n.variables.link ? ` ${n.variables.link}` : '';
      this.options.onHeld?.(`notification for ${n.recipient}: ${rendered.subject}${link}`);
      await this.settle(n, { state: 'held', attempts, channel: 'none' });
      return;
    }
    for (const channel of channels) {
      if (done.has(channel.name)) continue;
      try {
        await channel.send();
        done.add(channel.name);
      } catch (error) {
        errors.push(`${channel.name}: ${describe(error)}`);
      }
    }
    const channel = [...done].join(',') || null;
    if (!errors.length) {
      await this.settle(n, { state: 'sent', attempts, channel });
      return;
    }
    const maxAttempts = this.options.maxAttempts ?? 8;
    const error = errors.join('; ');
    logger.warn('notification attempt failed', { notification: n.id, attempt: attempts, error });
    if (attempts >= maxAttempts) {
      await this.settle(n, { state: 'failed', attempts, channel, error });
      return;
    }
    const backoff = Math.min((this.options.backoffMs ?? 30_000) * 2 ** (attempts - 1), this.options.maxBackoffMs ?? 3_600_000);
    await this.settle(n, { state: 'pending', attempts, channel, error, nextAttemptAt: clock.now() + backoff });
  }

  private async settle(n: NotificationRecord, outcome: { state: 'sent' | 'held' | 'failed' | 'pending' | 'expired'; attempts: number; channel: string | null; error?: string; nextAttemptAt?: number }): Promise<void> {
    const { store, clock } = this.options;
    const now = clock.now();
    const final = outcome.state === 'sent' || outcome.state === 'failed' || outcome.state === 'expired';
    await store.transaction(async (repo) => {
      if (!(await repo.notifications.settle(n.id, this.owner, { ...outcome, at: now }))) return;
      // Once a channel has it, the link is the recipient's alone: the admin API no longer shows it (nor an expired one).
      if (final) {
        const note = outcome.state === 'expired' ? '(redacted: expired)' : '(redacted: delivered)';
        const redacted = Object.fromEntries(Object.entries(n.variables).map(([k, v]) => [k, SECRET_VARIABLES.includes(k) ? note : v]));
        await repo.notifications.redact(n.id, redacted);
      }
      if (final) {
        await repo.audit.append(
          {
            action: outcome.state === 'sent' ? 'notification.sent' : outcome.state === 'failed' ? 'notification.failed' : 'notification.expired',
            actor: 'gatehouse:notifications',
            namespace: n.namespace,
            organization: n.organization || null,
            ...(n.userId ? { subject: n.userId } : {}),
            outcome: outcome.state === 'sent' ? 'success' : 'failure',
            data: { id: n.id, message: n.message, recipient: pseudonym(this.options.pseudonymKey, n.recipient), channels: outcome.channel, attempts: outcome.attempts, ...(outcome.error ? { error: outcome.error } : {}) },
          },
          now,
        );
      }
    });
  }

  /** Sends every `intervalMs` until `stop` (the first tick right away: messages written while the server was down go out). */
  start(intervalMs = 2_000): void {
    if (this.timer) clearInterval(this.timer);
    const run = () => void this.tick().catch((error: unknown) => this.options.logger.error('notification dispatch failed', error));
    run();
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer, waits for an attempt in flight, and closes the mail server's pooled connections. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    this.options.smtp?.close();
  }
}

function describe(error: unknown): string {
  const e = error as { code?: string; responseCode?: number; message?: string };
  // Never the message body or credentials: the code and the server's first line.
  return [e.code, e.responseCode, (e.message ?? String(error)).split('\n')[0]?.slice(0, 200)].filter(Boolean).join(' ');
}
