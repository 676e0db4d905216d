import { durationSeconds, effectiveSettings, effectiveSources, type AnyObject, type Condition, type OrganizationObject } from '../../api/index.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { certificationDueAt, standingOf, type LifecycleSettings } from '../oidc/standing.ts';
import type { Store } from '../store/index.ts';
import { chainFor, loadNamespace, type NamespaceView } from './organizations.ts';
import { endOrganizationTokens } from './token-ends.ts';
import type { AuditAction } from '../audit/actions.ts';
import { expireApprovals } from './access-requests.ts';
import { enqueue } from '../notifications/outbox.ts';

/** The warning window when the Workspace declares none: a month is what contract owners act on. */
export const DEFAULT_CONTRACT_WARNING = '30d';

const DAY = 86400_000;
/** The owner's last reminder before a contract ends. */
const LAST_WARNING_MS = 7 * DAY;

function warningStartsAt(org: OrganizationObject, lifecycle: LifecycleSettings | undefined): number | undefined {
  const endsAt = org.spec.contract?.endsAt;
  if (!endsAt) return undefined;
  return Date.parse(endsAt) - durationSeconds(lifecycle?.contractWarning ?? DEFAULT_CONTRACT_WARNING) * 1000;
}

const iso = (t: number) => new Date(t).toISOString();

/**
 * The time left as its reader acts on it: "in 45 seconds", "in 6 minutes", "in 5 hours",
 * "in 3 days". Each unit is used up to twice the next one (so "in 90 minutes", "in 36 hours"),
 * and rounded down: a warning never promises more time than is left.
 */
export function remaining(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [count, unit] = seconds < 120 ? [seconds, 'second'] : seconds < 2 * 3600 ? [Math.floor(seconds / 60), 'minute'] : seconds < 2 * 86400 ? [Math.floor(seconds / 3600), 'hour'] : [Math.floor(seconds / 86400), 'day'];
  return `in ${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * Conditions computed from the declaration and the clock on every read, so they are true
 * the moment they are read (nothing has to have run): `Active` (the organization's
 * standing, parents included), `ContractDeclared` (when the Workspace sets
 * `requireContract`), `ContractEnding` (inside the Workspace's warning window)
 * and `CertificationCurrent` (within the review period).
 */
export function lifecycleConditions(view: NamespaceView, declared: OrganizationObject, now: number, previous: readonly Condition[] = []): Condition[] {
  // Judged as the issuers judge it: with certifications made through the admin API.
  const org = view.organizations.get(declared.metadata.name) ?? declared;
  const lifecycle = view.workspace?.spec.lifecycle;
  const generation = org.metadata.generation;
  // lastTransitionTime moves only when the status flips: the date the declaration fixes
  // (a contract end, a due date) when there is one, else the time last reported, else now.
  const condition = (type: string, status: boolean, reason: string, message: string, since?: number): Condition => {
    const value = status ? 'True' : 'False';
    const before = previous.find((c) => c.type === type && c.status === value)?.lastTransitionTime;
    return {
      type,
      status: value,
      reason,
      message,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: since !== undefined && since <= now ? iso(since) : (before ?? iso(now)),
    };
  };
  const out: Condition[] = [];
  const standing = standingOf(chainFor(view, org.metadata.name), now, lifecycle);
  out.push(standing.active ? condition('Active', true, 'Standing', 'sign-ins and tokens are served') : condition('Active', false, camel(standing.reason), standing.detail));

  const contract = org.spec.contract;
  if (view.workspace?.spec.requireContract) {
    out.push(contract ? condition('ContractDeclared', true, 'Declared', `contract ${contract.id}`) : condition('ContractDeclared', false, 'ContractRequired', `Workspace ${view.workspace.metadata.name} requires a contract: declare spec.contract (id, partnerType, owner, endsAt)`));
  }
  const warnFrom = warningStartsAt(org, lifecycle);
  if (contract && warnFrom !== undefined) {
    const endsAt = Date.parse(contract.endsAt);
    if (endsAt <= now) out.push(condition('ContractEnding', false, 'Ended', `the contract ${contract.id} ended at ${contract.endsAt}`, endsAt));
    else if (warnFrom <= now) out.push(condition('ContractEnding', true, 'WithinWarningWindow', `the contract ${contract.id} ends at ${contract.endsAt} (${remaining(endsAt - now)}); extend spec.contract.endsAt to keep the partner working`, warnFrom));
    else out.push(condition('ContractEnding', false, 'NotYet', `the contract ${contract.id} ends at ${contract.endsAt}; the warning starts at ${iso(warnFrom)}`));
  }
  const due = certificationDueAt(org, lifecycle);
  if (due !== undefined) {
    const enforce = lifecycle?.suspendWhenCertificationOverdue ? '; the organization is suspended until it is certified' : '';
    out.push(due <= now ? condition('CertificationCurrent', false, 'Overdue', `certification was due at ${iso(due)} (owner ${contract?.owner ?? 'none'}): commit spec.contract.certifiedAt${enforce}`, due) : condition('CertificationCurrent', true, 'Certified', `next certification due at ${iso(due)}`));
  }
  return out;
}

function camel(reason: string): string {
  return reason.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}

/** Adds the lifecycle conditions to an Organization as presented by the admin API (replacing stale ones of the same type). */
export function withLifecycleStatus(object: AnyObject, view: NamespaceView, now: number): AnyObject {
  if (object.kind !== 'Organization') return object;
  const status = (object as { status?: { conditions?: Condition[] } }).status ?? {};
  const computed = lifecycleConditions(view, object, now, status.conditions);
  const kept = (status.conditions ?? []).filter((c) => !computed.some((n) => n.type === c.type));
  const certified = view.certifications.get(object.metadata.name);
  const certification = certified ? { certification: { certifiedAt: iso(certified.at), by: certified.actor, via: 'admin-api' } } : {};
  // What each inherited field came from, in short; GET …/effective has the values.
  const settings = effectiveSettings({ workspace: view.workspace, organizations: view.organizations, templates: view.templates }, object.metadata.name);
  const effective = settings ? { effective: effectiveSources(settings) } : {};
  return { ...object, status: { ...status, ...certification, ...effective, conditions: [...kept, ...computed] } } as AnyObject;
}

export interface Notice {
  action: AuditAction;
  namespace: string;
  organization: string;
  data: Record<string, unknown>;
}

/**
 * Emits each lifecycle event once into the audit log: a contract entering its warning
 * window, a contract that has ended, a certification that fell due. A notice is keyed by
 * the date it is about, so extending a contract (a new endsAt) warns again for the new end.
 * Safe to run from several replicas: the notice row is the once.
 */
export class LifecycleMonitor {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: { store: Store; clock: Clock; logger?: Logger }) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
  }

  /** Looks at every organization now; returns the notices emitted by this call. */
  async tick(): Promise<Notice[]> {
    const now = this.clock.now();
    const namespaces = [...(await this.store.objects.configVersions()).keys()];
    const emitted: Notice[] = [];
    for (const namespace of namespaces) {
      const view = await loadNamespace(this.store, namespace);
      const lifecycle = view.workspace?.spec.lifecycle;
      for (const org of view.organizations.values()) {
        const name = org.metadata.name;
        const contract = org.spec.contract;
        const candidates: { notice: string; key: string; action: AuditAction; data: Record<string, unknown>; message?: boolean }[] = [];
        const warnFrom = warningStartsAt(org, lifecycle);
        if (contract && warnFrom !== undefined) {
          const endsAt = Date.parse(contract.endsAt);
          if (endsAt <= now) candidates.push({ notice: 'contract-ended', key: contract.endsAt, action: 'Organization.contract-ended', data: { contract: contract.id, endsAt: contract.endsAt, owner: contract.owner } });
          else if (warnFrom <= now) {
            const data = { contract: contract.id, endsAt: contract.endsAt, owner: contract.owner, daysLeft: Math.ceil((endsAt - now) / DAY), remaining: remaining(endsAt - now) };
            // The owner is told at the warning and again a week before the end (once, when the warning itself came earlier than that).
            const lastWeek = endsAt - now <= LAST_WARNING_MS && warnFrom < endsAt - LAST_WARNING_MS;
            candidates.push({ notice: 'contract-ending', key: contract.endsAt, action: 'Organization.contract-ending', data, message: true });
            if (lastWeek) candidates.push({ notice: 'contract-ending-week', key: contract.endsAt, action: 'Organization.contract-ending', data, message: true });
          }
        }
        const due = certificationDueAt(org, lifecycle);
        if (due !== undefined && due <= now) {
          candidates.push({ notice: 'certification-overdue', key: iso(due), action: 'Organization.certification-overdue', data: { dueAt: iso(due), certifiedAt: contract?.certifiedAt ?? null, owner: contract?.owner ?? null, suspends: lifecycle?.suspendWhenCertificationOverdue === true } });
        }
        let warnedNow = false;
        for (const c of candidates) {
          const fresh = await this.store.transaction(async (repo) => {
            if (!(await repo.governance.recordLifecycleNotice(namespace, name, c.notice, c.key, now))) return false;
            // The warning went out in this very pass (the window was entered inside the last week): it is the week's reminder too.
            if (c.notice === 'contract-ending-week' && warnedNow) return false;
            // Standing already refuses every token of an ended contract; its grants and sessions go now, for good.
            if (c.notice === 'contract-ended') c.data.revoked = await endOrganizationTokens(repo, namespace, [name]);
            await repo.audit.append({ action: c.action, actor: 'gatehouse:lifecycle', namespace, organization: name, kind: 'Organization', name, data: c.data }, now);
            if (c.message && contract) await enqueue(repo, { namespace, organization: name, message: 'contract-ending', to: contract.owner, variables: { contractId: contract.id, endsAt: contract.endsAt, remaining: remaining(Date.parse(contract.endsAt) - now) } }, now);
            return true;
          });
          if (fresh && c.notice === 'contract-ending') warnedNow = true;
          if (fresh) emitted.push({ action: c.action, namespace, organization: name, data: c.data });
        }
      }
    }
    // Approvals past their end: already refused on every token; recorded expired and audited here, once.
    for (const r of await expireApprovals(this.store, now)) emitted.push({ action: 'accessrequest.expired', namespace: r.namespace, organization: r.organization, data: { id: r.id, scopes: r.scopes } });
    return emitted;
  }

  /**
   * Runs `tick` every `intervalMs` (the first one an interval after start, so a start-up
   * stays quiet) until `stop`; errors are logged and the next tick tries again. Standing
   * itself never waits for this: it is evaluated on every request.
   */
  start(intervalMs = 60_000): void {
    this.stop();
    const run = () => void this.tick().catch((error: unknown) => this.logger?.error('lifecycle check failed', error));
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
