import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditEntry } from '../store/index.ts';

/** Label for a namespace or organization past the bound, or not a declared name. */
export const OTHER = '_other';
/** Label for a record of no organization (a namespace's shared issuer). */
export const NONE = '_none';
/** Distinct (namespace, organization) label pairs kept per process before new ones collapse to `_other`. */
export const DEFAULT_MAX_ORGANIZATIONS = 1000;

// Namespaces and organizations are declared objects named as DNS labels; nothing else becomes a label.
const DECLARED_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const GRANT_TYPES = new Set(['authorization_code', 'client_credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:openid:params:grant-type:ciba']);

const RISK_RULE_NAMES = new Set(['newDevice', 'unusualLocation', 'impossibleTravel', 'failedSignIns', 'clientBurst', 'newClientAddress', 'outsideHours']);
const RISK_ACTIONS = new Set(['allow', 'stepUp', 'deny', 'suspendClient']);
const RISK_RECORDS = new Set(['risk.evaluated', 'risk.stepped-up', 'risk.denied']);

const ISSUED = new Set(['token.issued', 'token.refreshed', 'token.exchanged']);
const REFUSED = new Set(['token.refused', 'token.refresh-reuse-detected']);
const SIGN_IN_OUTCOME: Record<string, string> = {
  'login.succeeded': 'succeeded',
  'login.mfa-verified': 'succeeded',
  'login.failed': 'failed',
  'login.mfa-failed': 'failed',
  'login.refused': 'refused',
  'login.unknown-domain': 'refused',
};

/**
 * The server's (and the controller's) Prometheus metrics, in a registry of their own.
 * Token and sign-in counters are fed from the audit records the server writes anyway, so
 * every decision counted is one audited, and no endpoint needs a second hook.
 *
 * Cardinality: labels are namespace and organization (bounded by what is declared, and
 * by `maxOrganizations` pairs per process), grant type (a fixed set), outcome (a fixed
 * set). Never a user, client, secret, address or path.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly maxOrganizations: number;
  private readonly seen = new Set<string>();
  private readonly tokenSeries = new Map<string, { counter: Counter<'namespace' | 'organization' | 'grant_type'>; labels: Record<'namespace' | 'organization' | 'grant_type', string>; count: number; reported: number }>();
  private readonly tokensIssued: Counter<'namespace' | 'organization' | 'grant_type'>;
  private readonly tokensRefused: Counter<'namespace' | 'organization' | 'grant_type'>;
  private readonly signIns: Counter<'namespace' | 'organization' | 'outcome'>;
  private readonly scimRequests: Counter<'namespace' | 'organization' | 'outcome'>;
  private readonly riskDecisions: Counter<'namespace' | 'organization' | 'action'>;
  private readonly riskRules: Counter<'namespace' | 'organization' | 'rule'>;
  private readonly clientSuspensions: Counter<'namespace' | 'organization'>;
  readonly auditAppendSeconds: Histogram;
  readonly storeErrors: Counter<'operation'>;
  readonly requestErrors: Counter;
  readonly reconcilePasses: Counter<'source'>;
  readonly reconcileErrors: Counter<'source'>;
  readonly reconcileSeconds: Histogram<'source'>;
  readonly reconcileFailedObjects: Gauge<'source'>;

  constructor(options: { maxOrganizations?: number; processMetrics?: boolean } = {}) {
    this.maxOrganizations = options.maxOrganizations ?? DEFAULT_MAX_ORGANIZATIONS;
    const registers = [this.registry];
    const flush = () => this.flushTokens();
    this.tokensIssued = new Counter({ name: 'gatehouse_tokens_issued_total', help: 'Tokens issued at token endpoints (issued, refreshed, exchanged).', labelNames: ['namespace', 'organization', 'grant_type'], registers, collect: flush });
    this.tokensRefused = new Counter({ name: 'gatehouse_tokens_refused_total', help: 'Token requests refused at token endpoints.', labelNames: ['namespace', 'organization', 'grant_type'], registers, collect: flush });
    this.signIns = new Counter({ name: 'gatehouse_sign_ins_total', help: 'Sign-ins finished, by outcome (succeeded, failed, refused).', labelNames: ['namespace', 'organization', 'outcome'], registers });
    this.scimRequests = new Counter({ name: 'gatehouse_scim_requests_total', help: 'SCIM provisioning requests, by outcome (succeeded, unauthorized, rejected, failed).', labelNames: ['namespace', 'organization', 'outcome'], registers });
    this.riskDecisions = new Counter({ name: 'gatehouse_risk_decisions_total', help: 'Sign-ins and grants scored by the risk engine, by the action taken (allow, stepUp, deny, suspendClient).', labelNames: ['namespace', 'organization', 'action'], registers });
    this.riskRules = new Counter({ name: 'gatehouse_risk_rules_fired_total', help: 'Risk rules that fired, by rule.', labelNames: ['namespace', 'organization', 'rule'], registers });
    this.clientSuspensions = new Counter({ name: 'gatehouse_risk_client_suspensions_total', help: 'Clients the risk engine suspended.', labelNames: ['namespace', 'organization'], registers });
    this.auditAppendSeconds = new Histogram({ name: 'gatehouse_audit_append_seconds', help: 'Time from asking for a runtime audit record to it being durable.', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
    this.storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Store operations that failed (audit appends, readiness probes).', labelNames: ['operation'], registers });
    this.requestErrors = new Counter({ name: 'gatehouse_request_errors_total', help: 'Requests that failed with an unexpected error (answered 500).', registers });
    this.reconcilePasses = new Counter({ name: 'gatehouse_reconcile_passes_total', help: 'Controller passes that reached the server.', labelNames: ['source'], registers });
    this.reconcileErrors = new Counter({ name: 'gatehouse_reconcile_errors_total', help: 'Controller passes that failed and were retried.', labelNames: ['source'], registers });
    this.reconcileSeconds = new Histogram({ name: 'gatehouse_reconcile_duration_seconds', help: 'Duration of controller passes.', labelNames: ['source'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.reconcileFailedObjects = new Gauge({ name: 'gatehouse_reconcile_failed_objects', help: 'Declared objects the last pass could not apply.', labelNames: ['source'], registers });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** What a controller loop tells about its passes, as the reconcile metrics of `source` (directory, kubernetes). */
  reconcileObserver(source: string): { passed(seconds: number, report: { failed: number }): void; failed(seconds: number): void } {
    return {
      passed: (seconds, report) => {
        this.reconcilePasses.inc({ source });
        this.reconcileSeconds.observe({ source }, seconds);
        this.reconcileFailedObjects.set({ source }, report.failed);
      },
      failed: (seconds) => {
        this.reconcileErrors.inc({ source });
        this.reconcileSeconds.observe({ source }, seconds);
      },
    };
  }

  /** A gauge read when scraped (e.g. the issuer cache's size). */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Counts what an audit record says was decided: a token issued or refused, a sign-in finished. */
  observeAudit(entry: AuditEntry): void {
    const action = entry.action;
    const issued = ISSUED.has(action);
    // Token requests turned away before the provider saw them (network, rate limit) are refusals too.
    if (issued || REFUSED.has(action) || (action.startsWith('access.') && entry.data.path === '/token')) {
      const refused = !issued;
      const grant = grantLabel(entry.data.grant);
      const [namespace, organization] = this.organization(entry.namespace, entry.organization);
      // Counted in a plain map and handed to prom-client when scraped: its inc() hashes the label set each time (~1.5 µs).
      const key = `${refused ? 'r' : 'i'} ${namespace} ${organization} ${grant}`;
      let series = this.tokenSeries.get(key);
      if (!series) {
        series = { counter: refused ? this.tokensRefused : this.tokensIssued, labels: { namespace, organization, grant_type: grant }, count: 0, reported: 0 };
        this.tokenSeries.set(key, series);
      }
      series.count++;
      return;
    }
    if (RISK_RECORDS.has(action) || action === 'client.suspended') {
      this.observeRisk(entry);
      return;
    }
    const outcome = SIGN_IN_OUTCOME[action];
    if (!outcome) return;
    const [namespace, organization] = this.organization(entry.namespace, entry.organization);
    this.signIns.inc({ namespace, organization, outcome });
  }

  /** A risk decision by its action and each rule that fired; a suspension. Rules and actions are fixed sets. */
  private observeRisk(entry: AuditEntry): void {
    const [namespace, organization] = this.organization(entry.namespace, entry.organization);
    if (entry.action === 'client.suspended') {
      this.clientSuspensions.inc({ namespace, organization });
      return;
    }
    const data = entry.data as { action?: unknown; rules?: { rule?: unknown }[] };
    const action = typeof data.action === 'string' && RISK_ACTIONS.has(data.action) ? data.action : OTHER;
    this.riskDecisions.inc({ namespace, organization, action });
    for (const fired of Array.isArray(data.rules) ? data.rules : []) {
      const rule = typeof fired?.rule === 'string' && RISK_RULE_NAMES.has(fired.rule) ? fired.rule : OTHER;
      this.riskRules.inc({ namespace, organization, rule });
    }
  }

  /** Counts a SCIM request by its answer: 2xx/3xx succeeded, 401/403 unauthorized, other 4xx rejected, 5xx failed. */
  scimRequest(namespace: string, organization: string | undefined, status: number): void {
    const outcome = status < 400 ? 'succeeded' : status === 401 || status === 403 ? 'unauthorized' : status < 500 ? 'rejected' : 'failed';
    const [ns, org] = this.organization(namespace, organization);
    this.scimRequests.inc({ namespace: ns, organization: org, outcome });
  }

  private flushTokens(): void {
    for (const series of this.tokenSeries.values()) {
      if (series.count === series.reported) continue;
      series.counter.inc(series.labels, series.count - series.reported);
      series.reported = series.count;
    }
  }

  /** The labels for an organization: declared-looking names while under the bound, else `_other`. */
  private organization(namespace: string | null | undefined, organization: string | null | undefined): [string, string] {
    const ns = namespace && DECLARED_NAME.test(namespace) ? namespace : OTHER;
    const org = organization == null || organization === '' ? NONE : DECLARED_NAME.test(organization) ? organization : OTHER;
    const key = `${ns}/${org}`;
    if (this.seen.has(key)) return [ns, org];
    if (this.seen.size >= this.maxOrganizations) return [OTHER, OTHER];
    this.seen.add(key);
    return [ns, org];
  }

  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

function grantLabel(grant: unknown): string {
  return typeof grant === 'string' && GRANT_TYPES.has(grant) ? grant : grant === undefined || grant === '' ? NONE : OTHER;
}
