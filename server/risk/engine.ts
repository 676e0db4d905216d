import { durationSeconds, type EffectiveRisk, type EffectiveSettings, type RiskRuleName } from '../../api/index.ts';
import type { AuditAction } from '../audit/actions.ts';
import type { AuditWriter } from '../audit/writer.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { AuditEntry, ClientSuspension, Store } from '../store/index.ts';
import type { GeoLocator } from './geo.ts';
import { distanceKm } from './places.ts';

/**
 * What a score leads to: `allow`, `stepUp` (a sign-in asks for TOTP), `deny` (the sign-in or
 * grant is refused), `suspendClient` (a client_credentials client is paused until lifted).
 */
export type RiskAction = 'allow' | 'stepUp' | 'deny' | 'suspendClient';

/** A rule that fired: its declared weight and why, in words an auditor reads. */
export interface FiredRule {
  rule: RiskRuleName;
  weight: number;
  reason: string;
}

export interface RiskDecision {
  score: number;
  fired: FiredRule[];
  action: RiskAction;
  /** Where the geolocation database places the address, when a rule or gate asked. */
  country?: string | undefined;
}

/** The audit action of each decision (server/audit/actions.ts). */
export const DECISION_ACTIONS: Record<RiskAction, AuditAction> = { allow: 'risk.evaluated', stepUp: 'risk.stepped-up', deny: 'risk.denied', suspendClient: 'risk.denied' };

const DEFAULTS = { maxSpeedKmh: 900, failures: 5, failureWindowMs: 15 * 60_000, burstFactor: 10, burstWindowMs: 60_000, burstMinimum: 100 };
/** Bounds of the in-memory state: keys kept per map, entries per key. */
const MAX_KEYS = 10_000;
const MAX_FAILURES_KEPT = 1000;
const MAX_ADDRESSES = 1000;
/** How much a finished window moves a client's baseline (an exponentially weighted mean). */
const BASELINE_WEIGHT = 0.3;
/** Empty windows folded into the baseline after a pause, at most (older silence changes nothing more). */
const MAX_IDLE_WINDOWS = 50;

/** A map that forgets its oldest key beyond MAX_KEYS: the engine's memory never grows with traffic. */
class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    if (!this.has(key) && this.size >= MAX_KEYS) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }
}

interface Burst {
  start: number;
  count: number;
  baseline: number | undefined;
}

interface Addresses {
  set: Set<string>;
  loaded: Promise<void> | undefined;
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const formats = new Map<string, Intl.DateTimeFormat>();

/** The weekday and minute of the day of `at` in `timeZone`; undefined for a zone Intl does not know. */
function localTime(at: number, timeZone: string): { day: string; minute: number } | undefined {
  let format = formats.get(timeZone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      return undefined;
    }
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return { day: String(parts.weekday).slice(0, 3).toLowerCase(), minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether `at` falls outside the declared hours (a window past midnight when `from` is later than `to`). */
export function outsideHours(rule: NonNullable<EffectiveRisk['rules']['outsideHours']>['value'], at: number): boolean {
  const local = localTime(at, rule.timeZone ?? 'UTC');
  // A zone that cannot be read is judged in UTC rather than not at all.
  const { day, minute } = local ?? localTime(at, 'UTC')!;
  const from = minutes(rule.from);
  const to = minutes(rule.to);
  const inside = from <= to ? minute >= from && minute < to : minute >= from || minute < to;
  // Past midnight, the early hours belong to the day the window opened.
  const windowDay = from > to && minute < to ? WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7]! : day;
  return !inside || (rule.days !== undefined && !rule.days.includes(windowDay as never));
}

/** The strongest action whose threshold the score reaches; `suspendClient` only for a client's own (client_credentials) grant, a user's grant over it is denied. */
export function decide(risk: EffectiveRisk, score: number, stage: 'sign-in' | 'grant' | 'machine'): RiskAction {
  const { thresholds } = risk;
  if (score <= 0) return 'allow';
  if (stage === 'machine' && thresholds.suspendClient && score >= thresholds.suspendClient.value) return 'suspendClient';
  if (thresholds.deny && score >= thresholds.deny.value) return 'deny';
  // A user's grant over suspendClient is denied (the client is not paused for one user), declared deny or not.
  if (stage === 'grant' && thresholds.suspendClient && score >= thresholds.suspendClient.value) return 'deny';
  if (stage === 'sign-in' && thresholds.stepUp && score >= thresholds.stepUp.value) return 'stepUp';
  return 'allow';
}

export interface RiskEngineOptions {
  store: Store;
  clock: Clock;
  audit: AuditWriter;
  geo: GeoLocator;
  logger: Logger;
  /** How often suspensions made by other replicas are read from the store (ms). */
  pollMs?: number;
}

/** What a sign-in is judged on. */
export interface SignInFacts {
  namespace: string;
  organization: string;
  settings: EffectiveSettings | undefined;
  user: string;
  email: string;
  client: string;
  ip: string;
  /** The device cookie's digest (server/risk/device.ts); undefined when the browser brought none. */
  device: string | undefined;
}

/** What a token grant is judged on. */
export interface GrantFacts {
  namespace: string;
  organization: string;
  settings: EffectiveSettings | undefined;
  /** The Client's name. */
  client: string;
  /**
   * The Client's stored uid, new each time it is created: what is kept in memory for it is
   * bound to it, so a client deleted and declared again under its name starts unknown on every
   * replica (the store forgets its addresses with the deletion, server/objects/service.ts).
   */
  incarnation: string;
  grant: string;
  ip: string;
  /**
   * At a namespace's shared issuer, the signed-in user's organization: the workspace client's
   * state (its addresses, its rate) is kept per organization, so one partner's history never
   * decides another's. Undefined at an organization's issuer (the client is its own).
   */
  tenant?: string | undefined;
}

/**
 * The explainable risk engine: each declared rule (the api field risk, its rules) looks at one signal and,
 * when it fires, adds its weight; the score reaches a threshold or not (`decide`). At sign-in
 * what the store keeps for every replica is read (the user's devices, the country of its last
 * sign-in); at the token endpoint only memory is (windows of bounded size, a client's
 * addresses loaded once), so a token costs no query. Failed sign-ins are counted from the
 * audit records (`observe`).
 */
export class RiskEngine {
  private readonly options: RiskEngineOptions;
  private readonly failures = new Bounded<number[]>();
  private readonly bursts = new Bounded<Burst>();
  private readonly addresses = new Bounded<Addresses>();
  private suspended = new Map<string, ClientSuspension>();
  private polledAt = Number.NEGATIVE_INFINITY;
  private polling: Promise<void> | undefined;
  /** Until the suspensions were read once: a replica that just started must not let a paused client through. */
  private firstRead: Promise<void> | undefined;
  private read = false;

  constructor(options: RiskEngineOptions) {
    this.options = options;
  }

  get geo(): GeoLocator {
    return this.options.geo;
  }

  /** Counts failed sign-ins per user (by the address typed) and per client address, from the audit records. */
  observe(entry: AuditEntry): void {
    if (entry.action !== 'login.failed') return;
    const now = this.options.clock.now();
    const ns = entry.namespace ?? '';
    const ip = (entry.data.signals as { ip?: unknown } | undefined)?.ip;
    if (entry.actor && entry.actor !== 'anonymous') this.count(`u ${ns} ${entry.actor.toLowerCase()}`, now);
    if (typeof ip === 'string' && ip) this.count(`a ${ns} ${ip}`, now);
  }

  private count(key: string, now: number): void {
    const list = this.failures.get(key) ?? [];
    list.push(now);
    if (list.length > MAX_FAILURES_KEPT) list.splice(0, list.length - MAX_FAILURES_KEPT);
    this.failures.set(key, list);
  }

  private recentFailures(key: string, now: number, windowMs: number): number {
    const list = this.failures.get(key);
    if (!list) return 0;
    let n = 0;
    for (let i = list.length - 1; i >= 0 && now - list[i]! < windowMs; i--) n++;
    return n;
  }

  /** Scores a sign-in; undefined when its organization declares no `risk`. Remembers nothing (see `learn`). */
  async signIn(facts: SignInFacts): Promise<RiskDecision | undefined> {
    const risk = facts.settings?.risk;
    if (!risk) return undefined;
    const { rules } = risk;
    const { store, clock } = this.options;
    const now = clock.now();
    const fired: FiredRule[] = [];
    const fire = (rule: RiskRuleName, weight: number, reason: string) => {
      if (weight > 0) fired.push({ rule, weight, reason });
    };
    const country = rules.unusualLocation || rules.impossibleTravel ? this.options.geo.country(facts.ip) : undefined;
    if (rules.newDevice) {
      const known = await store.risk.seen(facts.namespace, 'device', facts.user, MAX_ADDRESSES);
      // A first sign-in has no history to differ from.
      if (known.length > 0 && !known.some((d) => d.value === facts.device)) fire('newDevice', rules.newDevice.value.weight, facts.device ? 'a browser this user never signed in from' : 'a browser without a device cookie');
    }
    if (rules.unusualLocation && country && !rules.unusualLocation.value.countries.includes(country)) {
      fire('unusualLocation', rules.unusualLocation.value.weight, `${facts.ip} is in ${country}, outside ${rules.unusualLocation.value.countries.join(', ')}`);
    }
    if (rules.impossibleTravel && country) {
      const last = (await store.risk.seen(facts.namespace, 'sign-in', facts.user, 1))[0];
      const km = last && last.value !== country ? distanceKm(last.value, country) : undefined;
      const maxSpeed = rules.impossibleTravel.value.maxSpeedKmh ?? DEFAULTS.maxSpeedKmh;
      const hours = last ? Math.max(0, now - last.at) / 3_600_000 : 0;
      if (last && km !== undefined && km > maxSpeed * hours) fire('impossibleTravel', rules.impossibleTravel.value.weight, `${Math.round(km)} km from ${last.value} to ${country} in ${Math.round(hours * 60)} min (faster than ${maxSpeed} km/h)`);
    }
    if (rules.failedSignIns) {
      const { max = DEFAULTS.failures, window } = rules.failedSignIns.value;
      const windowMs = window ? durationSeconds(window) * 1000 : DEFAULTS.failureWindowMs;
      const byUser = this.recentFailures(`u ${facts.namespace} ${facts.email.toLowerCase()}`, now, windowMs);
      const byAddress = this.recentFailures(`a ${facts.namespace} ${facts.ip}`, now, windowMs);
      if (byUser >= max || byAddress >= max) fire('failedSignIns', rules.failedSignIns.value.weight, `${Math.max(byUser, byAddress)} failed sign-ins ${byUser >= byAddress ? 'for this user' : `from ${facts.ip}`} within ${window ?? '15m'}`);
    }
    if (rules.outsideHours && outsideHours(rules.outsideHours.value, now)) {
      const h = rules.outsideHours.value;
      fire('outsideHours', h.weight, `outside ${h.from}–${h.to}${h.days ? ` (${h.days.join(', ')})` : ''} ${h.timeZone ?? 'UTC'}`);
    }
    const score = fired.reduce((s, f) => s + f.weight, 0);
    return { score, fired, action: decide(risk, score, 'sign-in'), country };
  }

  /** After a sign-in is let through (past its step-up): its device and country become the user's known ones. */
  async learn(namespace: string, user: string, signal: { device?: string | undefined; country?: string | undefined }): Promise<void> {
    const now = this.options.clock.now();
    if (signal.device) await this.options.store.risk.remember(namespace, 'device', user, signal.device, now);
    if (signal.country) await this.options.store.risk.remember(namespace, 'sign-in', user, signal.country, now);
  }

  /**
   * Scores a token grant from memory: `clientBurst` (client_credentials) and
   * `newClientAddress`. Undefined when the organization declares neither.
   */
  grant(facts: GrantFacts): RiskDecision | undefined | Promise<RiskDecision | undefined> {
    const risk = facts.settings?.risk;
    if (!risk) return undefined;
    const { clientBurst, newClientAddress } = risk.rules;
    if (!clientBurst && !newClientAddress) return undefined;
    const machine = facts.grant === 'client_credentials';
    // A shared client's owner is the pair: what its users of one organization did is theirs.
    const owner = facts.tenant === undefined ? facts.client : `${facts.client} ${facts.tenant}`;
    const key = `${facts.namespace} ${owner} ${facts.incarnation}`;
    const fired: FiredRule[] = [];
    if (clientBurst && machine) {
      const r = clientBurst.value;
      const windowMs = r.window ? durationSeconds(r.window) * 1000 : DEFAULTS.burstWindowMs;
      const count = this.tick(key, this.options.clock.now(), windowMs);
      const baseline = this.bursts.get(key)!.baseline ?? 0;
      const limit = Math.max(r.minimum ?? DEFAULTS.burstMinimum, (r.factor ?? DEFAULTS.burstFactor) * baseline);
      if (count > limit && r.weight > 0) fired.push({ rule: 'clientBurst', weight: r.weight, reason: `${count} tokens within ${r.window ?? '1m'}, above ${Math.round(limit)} (baseline ${baseline.toFixed(1)} per window)` });
    }
    const finish = (): RiskDecision => {
      const score = fired.reduce((s, f) => s + f.weight, 0);
      return { score, fired, action: decide(risk, score, machine ? 'machine' : 'grant') };
    };
    if (!newClientAddress) return finish();
    const known = this.addresses.get(key);
    const judge = (a: Addresses): RiskDecision => {
      const unseen = !a.set.has(facts.ip);
      // The first address learned is the client's history, not a change from it.
      if (unseen && a.set.size > 0 && newClientAddress.value.weight > 0) fired.push({ rule: 'newClientAddress', weight: newClientAddress.value.weight, reason: `${facts.ip} was never seen for this client` });
      const decision = finish();
      // A refused request teaches nothing: the address stays unseen, and is judged so again.
      if (unseen && a.set.size < MAX_ADDRESSES && decision.action !== 'deny' && decision.action !== 'suspendClient') {
        a.set.add(facts.ip);
        this.options.store.risk.remember(facts.namespace, 'address', owner, facts.ip, this.options.clock.now()).catch((error: unknown) => this.options.logger.error('risk: remembering a client address', error));
      }
      return decision;
    };
    if (known && !known.loaded) return judge(known);
    return this.addressesOf(facts.namespace, owner, key).then(judge);
  }

  /** A client's known addresses: read from the store once per process, then kept in memory. */
  private async addressesOf(namespace: string, owner: string, key: string): Promise<Addresses> {
    let entry = this.addresses.get(key);
    if (!entry) {
      const set = new Set<string>();
      entry = { set, loaded: undefined };
      const made = entry;
      made.loaded = this.options.store.risk.seen(namespace, 'address', owner, MAX_ADDRESSES).then((rows) => {
        for (const r of rows) set.add(r.value);
        made.loaded = undefined;
      });
      this.addresses.set(key, entry);
    }
    await entry.loaded;
    return entry;
  }

  /** Counts one token in the client's current window; the count so far. A finished window moves the baseline. */
  private tick(key: string, now: number, windowMs: number): number {
    let b = this.bursts.get(key);
    if (!b) {
      b = { start: now, count: 0, baseline: undefined };
      this.bursts.set(key, b);
    }
    const elapsed = Math.floor((now - b.start) / windowMs);
    if (elapsed >= 1) {
      // The window that ended, then any empty ones after it.
      b.baseline = b.baseline === undefined ? b.count : BASELINE_WEIGHT * b.count + (1 - BASELINE_WEIGHT) * b.baseline;
      for (let i = 1; i < Math.min(elapsed, MAX_IDLE_WINDOWS); i++) b.baseline *= 1 - BASELINE_WEIGHT;
      b.start += elapsed * windowMs;
      b.count = 0;
    }
    return ++b.count;
  }

  // ── suspended clients ──────────────────────────────────────────────

  /** Undefined once the suspensions have been read from the store; until then, what to wait for. */
  whenRead(): Promise<void> | undefined {
    if (this.read) return undefined;
    this.firstRead ??= this.refresh().catch((error: unknown) => this.options.logger.error('risk: reading client suspensions', error));
    return this.firstRead;
  }

  /** Whether any client is suspended (known to this process): the token path skips reading the client otherwise. */
  anySuspended(): boolean {
    this.pollIfDue();
    return this.suspended.size > 0;
  }

  /** The client's standing suspension, from memory (refreshed from the store in the background every pollMs). */
  suspension(namespace: string, client: string): ClientSuspension | undefined {
    this.pollIfDue();
    const s = this.suspended.get(`${namespace} ${client}`);
    return s && (s.until === null || s.until > this.options.clock.now()) ? s : undefined;
  }

  /** Reads the suspensions now (start-up, tests); lapsed ones are lifted and audited once, by whichever replica gets there first. */
  async refresh(): Promise<void> {
    this.polledAt = performance.now();
    const now = this.options.clock.now();
    const all = await this.options.store.risk.suspensions();
    const next = new Map<string, ClientSuspension>();
    for (const s of all) {
      if (s.until !== null && s.until <= now) {
        const lifted = await this.options.store.risk.lift(s.namespace, s.client);
        if (lifted) await this.audit('client.resumed', lifted, 'risk-engine', { by: 'timeout', suspendedAt: new Date(lifted.suspendedAt).toISOString() });
        continue;
      }
      next.set(`${s.namespace} ${s.client}`, s);
    }
    this.suspended = next;
    this.read = true;
  }

  private pollIfDue(): void {
    if (this.polling || performance.now() - this.polledAt < (this.options.pollMs ?? 1000)) return;
    this.polling = this.refresh()
      .catch((error: unknown) => this.options.logger.error('risk: reading client suspensions', error))
      .finally(() => {
        this.polling = undefined;
      });
  }

  /** Pauses a client after a decision; audited. */
  async suspend(namespace: string, organization: string, client: string, decision: RiskDecision, suspendFor: number | undefined): Promise<ClientSuspension> {
    const now = this.options.clock.now();
    const s: ClientSuspension = { namespace, client, organization, score: decision.score, rules: decision.fired.map((f) => f.rule), suspendedAt: now, until: suspendFor === undefined ? null : now + suspendFor * 1000 };
    this.suspended.set(`${namespace} ${client}`, s);
    await this.options.store.risk.suspend(s);
    await this.audit('client.suspended', s, 'risk-engine', { score: s.score, rules: decision.fired, until: s.until === null ? null : new Date(s.until).toISOString() });
    return s;
  }

  /** Lifts a suspension (a person, through the admin API); undefined when the client was not suspended. */
  async lift(namespace: string, client: string, actor: string): Promise<ClientSuspension | undefined> {
    this.suspended.delete(`${namespace} ${client}`);
    const lifted = await this.options.store.risk.lift(namespace, client);
    if (lifted) await this.audit('client.resumed', lifted, actor, { by: 'person', suspendedAt: new Date(lifted.suspendedAt).toISOString() });
    return lifted;
  }

  private audit(action: AuditAction, s: ClientSuspension, actor: string, data: Record<string, unknown>): Promise<void> {
    return this.options.audit.append({ action, actor, namespace: s.namespace, organization: s.organization, client: s.client, kind: 'Client', name: s.client, data });
  }
}
