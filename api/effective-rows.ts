import { type EffectiveSettings, LIFETIME_FIELDS, RISK_RULES, RISK_THRESHOLDS, type Source, type Sourced } from './effective.ts';

/** Seconds as a declaration writes them: the largest unit that divides them (`600` → `10m`). */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const)
    if (seconds % size === 0 && seconds >= size) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** One row per set field, as the fields are named in a declaration: what attest prints and `status.effective` summarises. */
export interface EffectiveRow {
  field: string;
  value: string;
  source: Source;
  /** Set when a parent's networks narrowed the organization's own. */
  narrowedBy?: Source;
}

export function effectiveRows(settings: EffectiveSettings): EffectiveRow[] {
  const rows: EffectiveRow[] = [];
  for (const f of LIFETIME_FIELDS) rows.push({ field: `tokens.${f}`, value: formatDuration(settings.tokens[f].value), source: settings.tokens[f].source });
  rows.push({ field: 'mfa.required', value: String(settings.mfaRequired.value), source: settings.mfaRequired.source });
  // The second-factor policy beyond `required`: only where something was declared, so the defaults add no rows.
  const mfaRows: [string, Sourced<unknown>][] = [
    ['mfa.methods', settings.mfaMethods],
    ['mfa.requirePhishingResistant.administrators', settings.phishingResistant.administrators],
    ['mfa.requirePhishingResistant.highValueScopes', settings.phishingResistant.highValueScopes],
    ['mfa.upstreamMfa', settings.upstreamMfa],
  ];
  for (const [field, v] of mfaRows) if (v.source !== 'default') rows.push({ field, value: Array.isArray(v.value) ? v.value.join(', ') : String(v.value), source: v.source });
  const cidrs = settings.allowedCidrs;
  if (cidrs) rows.push({ field: 'network.allowedCidrs', value: cidrs.value.length ? cidrs.value.join(', ') : '(none: no address is admitted)', source: cidrs.source, ...(cidrs.narrowedBy ? { narrowedBy: cidrs.narrowedBy } : {}) });
  if (settings.allowedCountries) rows.push({ field: 'network.allowedCountries', value: settings.allowedCountries.value.join(', ') || '(none: no country is admitted)', source: settings.allowedCountries.source });
  if (settings.deniedCountries) rows.push({ field: 'network.deniedCountries', value: settings.deniedCountries.value.join(', '), source: settings.deniedCountries.source });
  const risk = settings.risk;
  if (risk) {
    for (const r of RISK_RULES) {
      const rule = risk.rules[r];
      if (rule) rows.push({ field: `risk.rules.${r}`, value: JSON.stringify(rule.value), source: rule.source });
    }
    for (const t of RISK_THRESHOLDS) {
      const threshold = risk.thresholds[t];
      if (threshold) rows.push({ field: `risk.thresholds.${t}`, value: String(threshold.value), source: threshold.source });
    }
    if (risk.suspendFor) rows.push({ field: 'risk.suspendFor', value: formatDuration(risk.suspendFor.value), source: risk.suspendFor.source });
  }
  if (settings.requestsPerMinute) rows.push({ field: 'limits.requestsPerMinute', value: String(settings.requestsPerMinute.value), source: settings.requestsPerMinute.source });
  if (settings.emailDomains) rows.push({ field: 'emailDomains', value: settings.emailDomains.value.join(', '), source: settings.emailDomains.source });
  for (const field of ['primaryColor', 'accentColor', 'logo'] as const) {
    const b = settings.branding[field];
    if (b) rows.push({ field: `branding.${field}`, value: field === 'logo' ? `${b.value.slice(0, b.value.indexOf(';'))} (${b.value.length} characters)` : b.value, source: b.source });
  }
  for (const c of settings.claims) rows.push({ field: `claims.${c.value.name}`, value: c.value.from ?? JSON.stringify(c.value.value), source: c.source });
  return rows;
}

/**
 * A compact summary for `status.effective`: each set field and where its value came from.
 * Claims are left out (one per claim name would grow the status without bound).
 */
export function effectiveSources(settings: EffectiveSettings): Record<string, Source> {
  return Object.fromEntries(effectiveRows({ ...settings, claims: [] }).map((r) => [r.field, r.source]));
}
