export * from './meta.ts';
export * from './common.ts';
export * from './kind.ts';
export * from './kinds/index.ts';
export * from './validate.ts';
export { PartnerType, Contract, MfaPolicy } from './kinds/organization.ts';
export { Claim } from './kinds/claim-mapping.ts';
export { ClientType } from './kinds/client.ts';
export { Role } from './kinds/user.ts';
export { Approvers } from './kinds/access-policy.ts';
export { SigningAlgorithm, ClaimDefinition, ClaimType } from './kinds/workspace.ts';
export { MESSAGE_NAMES, MESSAGE_VARIABLES, COMMON_VARIABLES, PLACEHOLDER, variablesOf, unknownVariables, MessageTemplate, MessageTemplates, type MessageName } from './notifications.ts';
export { sortForApply } from './order.ts';
export { clientIdFor, issuerPath } from './ids.ts';
export { canonicalJson, declarationOf } from './canonical.ts';
export { REDACTED, diff, redact, type FieldChange } from './changes.ts';
export type { SecretDescription } from './secrets.ts';
export {
  ancestry,
  parentCycle,
  organizationChain,
  withDescendants,
  effectiveSettings,
  effectiveScopes,
  effectiveSources,
  effectiveRows,
  formatDuration,
  workspaceSettings,
  declaredEmailDomains,
  lifetimeCeilings,
  intersectCidrs,
  parseCidr,
  DEFAULT_LIFETIMES,
  DEFAULT_CEILINGS,
  MAX_ORGANIZATION_DEPTH,
  RISK_RULES,
  RISK_THRESHOLDS,
} from './effective.ts';
export type { EffectiveRisk, RiskRuleName, RiskThreshold } from './effective.ts';
export { RiskPolicy, RiskRules, countryCode } from './kinds/organization.ts';
export type { EffectiveRow, Declarations, EffectiveSettings, EffectiveScope, EffectiveBranding, Lifetimes, MfaMethod, Source, Sourced, UpstreamMfa } from './effective.ts';
