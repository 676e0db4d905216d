import type { AuditKey } from '../../audit/chain.ts';
import type { SqlExecutor } from '../sql.ts';
import { AccessRequestRepository } from './access-requests.ts';
import { AccessTokenRepository } from './access-tokens.ts';
import { AdminTokenRepository } from './admin-tokens.ts';
import { AuditRepository } from './audit.ts';
import { BrokerRepository } from './broker.ts';
import { FederationDraftRepository } from './federation-drafts.ts';
import { GovernanceRepository } from './governance.ts';
import { SigningKeyRepository } from './keys.ts';
import { NotificationRepository } from './notifications.ts';
import { ObjectRepository } from './objects.ts';
import { OidcRepository } from './oidc.ts';
import { PasskeyRepository } from './passkeys.ts';
import { ScimRepository } from './scim.ts';
import { SealedSecretRepository } from './secrets.ts';
import { UserRepository } from './users.ts';
import { RiskRepository } from './risk.ts';

export {
  AccessRequestRepository,
  AccessTokenRepository,
  AdminTokenRepository,
  AuditRepository,
  BrokerRepository,
  FederationDraftRepository,
  GovernanceRepository,
  NotificationRepository,
  ObjectRepository,
  OidcRepository,
  ScimRepository,
  SealedSecretRepository,
  SigningKeyRepository,
  UserRepository,
  RiskRepository,
  PasskeyRepository,
};
export type { StoredObject, Dependant, ConfigChange, ChangeKind } from './objects.ts';
export type { AuditEntry, AuditQuery } from './audit.ts';
export type { SigningKeyRow } from './keys.ts';
export type { UserRecord, UserProfile } from './users.ts';
export type { AccessRequestRecord, AccessRequestState } from './access-requests.ts';
export type { ScimActivity, ScimGroupRecord, ScimTokenRecord, ScimUserRecord } from './scim.ts';
export type { FederationDraftRow } from './federation-drafts.ts';
export type { ClientSuspension, SeenKind } from './risk.ts';
export type { PasskeyRecord } from './passkeys.ts';
export type { NotificationRecord, NotificationState, NewNotification } from './notifications.ts';

/**
 * Every query the server makes of its store, one repository per aggregate, all over the same
 * executor: what a transaction hands its callback, and what the store itself offers for reads
 * and single writes outside one.
 */
export interface Repositories {
  readonly objects: ObjectRepository;
  readonly audit: AuditRepository;
  readonly keys: SigningKeyRepository;
  readonly oidc: OidcRepository;
  readonly accessTokens: AccessTokenRepository;
  readonly users: UserRepository;
  readonly governance: GovernanceRepository;
  readonly secrets: SealedSecretRepository;
  readonly broker: BrokerRepository;
  readonly adminTokens: AdminTokenRepository;
  readonly accessRequests: AccessRequestRepository;
  readonly scim: ScimRepository;
  readonly federationDrafts: FederationDraftRepository;
  readonly risk: RiskRepository;
  readonly passkeys: PasskeyRepository;
  readonly notifications: NotificationRepository;
}

/** `auditKey`: the key new audit records are hashed with (see AuditRepository). */
export function repositories(db: SqlExecutor, auditKey: () => AuditKey | undefined = () => undefined): Repositories {
  return {
    objects: new ObjectRepository(db),
    audit: new AuditRepository(db, auditKey),
    keys: new SigningKeyRepository(db),
    oidc: new OidcRepository(db),
    accessTokens: new AccessTokenRepository(db),
    users: new UserRepository(db),
    governance: new GovernanceRepository(db),
    secrets: new SealedSecretRepository(db),
    broker: new BrokerRepository(db),
    adminTokens: new AdminTokenRepository(db),
    accessRequests: new AccessRequestRepository(db),
    scim: new ScimRepository(db),
    federationDrafts: new FederationDraftRepository(db),
    risk: new RiskRepository(db),
    passkeys: new PasskeyRepository(db),
    notifications: new NotificationRepository(db),
  };
}
