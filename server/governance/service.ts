import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { MfaPolicy, Role, effectiveSettings, email as emailSchema, issuerPath, type OrganizationObject, type OrganizationTemplateObject } from '../../api/index.ts';
import { TOTP_SCOPE, totpRow } from '../broker/mfa.ts';
import type { ChangeContext } from '../changes.ts';
import type { Clock } from '../clock.ts';
import { Conflict, InvalidObject, notFound } from '../errors.ts';
import { enqueueForUser, iso } from '../notifications/outbox.ts';
import type { ObjectService } from '../objects/service.ts';
import type { Repositories, Store, UserRecord } from '../store/index.ts';
import { eraseUser } from '../users/erasure.ts';
import { emailDomain, ownedDomains } from './domains.ts';
import { loadDeclarations } from './effective.ts';
import { principalOf, type AdminGuard } from './guard.ts';
import { withLifecycleStatus } from './lifecycle.ts';
import { loadChains, loadNamespace } from './organizations.ts';
import { parseBody } from './params.ts';
import { assignableRoles, type Role as RoleName } from './policy.ts';
import { presentPasskey, presentUser } from './present.ts';
import { endLapsedTokens, endUserTokens } from './token-ends.ts';

export interface GovernanceRoutesOptions {
  store: Store;
  clock: Clock;
  guard: AdminGuard;
  objects: ObjectService;
  publicUrl: () => string;
  passwordLink(namespace: string, user: string, context: ChangeContext): Promise<{ url: string; expiresAt: string }>;
  bodyLimit?: number;
}

/** The users of `namespace` holding a TOTP factor (its sealed row exists: enrolled, or enrolling until the first code). */
async function totpFactorsOf(repo: Repositories, namespace: string): Promise<Set<string>> {
  return new Set((await repo.secrets.list(TOTP_SCOPE, `${namespace}/`)).map((r) => r.name.slice(namespace.length + 1)));
}

const Invite = z.strictObject({
  email: emailSchema,
  displayName: z.string().min(1).max(200).optional(),
  roles: z.array(Role).max(4).optional(),
});

const Certify = z.strictObject({ note: z.string().max(1024).optional() }).optional();

const RoleChange = z.strictObject({ roles: z.array(Role).max(4) });

export type UserOperation = 'deactivate' | 'reactivate' | 'reset-mfa' | 'password-link';
export const USER_OPERATIONS: readonly UserOperation[] = ['deactivate', 'reactivate', 'reset-mfa', 'password-link'];

/**
 * What partner administrators do to their organization's users, and certification: the one
 * implementation behind the admin API's routes and the portal's pages, so both hold the same
 * guardrails. Each call takes the request's context, whose `state.principal` the guard reads
 * (set by the admin API's bearer authentication, or by the portal's session).
 */
export type GovernanceService = ReturnType<typeof governanceService>;

export function governanceService(options: GovernanceRoutesOptions) {
  const { store, clock, guard } = options;

  const context = (ctx: Context, extra: Record<string, string> = {}): ChangeContext => ({ actor: principalOf(ctx).actor, provenance: { source: (ctx.state as { changeSource?: string }).changeSource ?? 'admin-api', ...extra } });

  /** The user at the path, which must belong to the organization at the path. */
  const userAt = async (ctx: Context, namespace: string, organization: string, id: string): Promise<UserRecord> => {
    const user = await store.users.find(namespace, id);
    // Another organization's user (even one below this organization) is as absent as a missing one.
    if (!user || user.organization !== organization) return guard.conceal(ctx, `user ${id} does not exist in organization ${namespace}/${organization}`, 'users.write');
    return user;
  };

  /** Partner admins never change what git declares, and never manage a user holding a role they could not give. */
  const mayManage = async (ctx: Context, user: UserRecord, target: { namespace: string; organization: string }, changesDeclaredField: boolean) => {
    const principal = principalOf(ctx);
    if (principal.kind === 'token' || principal.scope === 'namespace') return;
    if (changesDeclaredField && user.declaredAs !== null) await guard.refuse(ctx, `user ${user.id} is declared in git or Pulumi (User ${user.declaredAs}); change it there`, 'users.write', target);
    const assignable = assignableRoles(principal);
    const beyond = user.roles.filter((r) => !assignable.has(r as RoleName));
    if (beyond.length > 0) await guard.refuse(ctx, `user ${user.id} holds role ${beyond.join(', ')}, which you cannot manage`, 'users.write', target);
  };

  const deactivate = async (repo: Repositories, namespace: string, users: UserRecord[], now: number): Promise<{ deactivated: string[]; revoked: number }> => {
    const deactivated: string[] = [];
    for (const u of users) if (await repo.users.setActive(namespace, u.id, false, now)) deactivated.push(u.id);
    return { deactivated, revoked: await endUserTokens(repo, namespace, users) };
  };

  const refuseUnassignable = async (ctx: Context, roles: RoleName[], target: { namespace: string; organization: string }) => {
    const assignable = assignableRoles(principalOf(ctx));
    const refused = roles.filter((r) => !assignable.has(r));
    if (refused.length > 0) await guard.refuse(ctx, `you cannot give role ${refused.join(', ')}`, 'users.write', target);
  };

  return {
    deactivate,

    /**
     * What a partner administrator adds to its organization's declared second-factor policy
     * (`mfa`): applied only where it is stricter (api/effective.ts), so nobody loosens a
     * declaration or a parent's policy this way. An empty policy clears it. Audited; the
     * organization's issuers are rebuilt.
     */
    async setMfaTightening(ctx: Context, namespace: string, organization: string, input: unknown) {
      await guard.require(ctx, 'sso.write', { namespace, organization });
      const policy = parseBody(MfaPolicy, input, 'mfa policy');
      const decls = await loadDeclarations(store, namespace);
      if (!decls.organizations.has(organization)) throw notFound(`Organization ${namespace}/${organization} does not exist`);
      const change = context(ctx, { action: 'tighten-mfa' });
      const empty = Object.keys(policy).length === 0;
      await store.transaction(async (repo) => {
        await repo.governance.setMfaTightening(namespace, organization, empty ? null : JSON.stringify(policy), change.actor, clock.now());
        // Issuers built before it are rebuilt, on every replica.
        await repo.objects.bumpConfigVersion(namespace, [{ kind: 'MfaTightening', name: organization }]);
        await repo.audit.append({ action: 'organization.mfa-tightened', actor: change.actor, namespace, organization, kind: 'Organization', name: organization, data: { policy, ...(change.provenance ? { provenance: change.provenance } : {}) } }, clock.now());
      });
      options.objects.notifyChanged(namespace);
      return this.mfaTightening(ctx, namespace, organization);
    },

    /** The tightening in force and what the organization's second-factor policy comes to with it. */
    async mfaTightening(ctx: Context, namespace: string, organization: string) {
      await guard.require(ctx, 'users.read', { namespace, organization });
      const decls = await loadDeclarations(store, namespace);
      const settings = effectiveSettings(decls, organization);
      if (!settings) throw notFound(`Organization ${namespace}/${organization} does not exist`);
      return { tightening: decls.mfaTightenings?.get(organization) ?? {}, effective: { required: settings.mfaRequired, methods: settings.mfaMethods, requirePhishingResistant: settings.phishingResistant, upstreamMfa: settings.upstreamMfa } };
    },

    /** A user's passkeys, as an administrator sees them (no key material). */
    async listPasskeys(ctx: Context, namespace: string, organization: string, userId: string) {
      await guard.require(ctx, 'users.read', { namespace, organization });
      const user = await userAt(ctx, namespace, organization, userId);
      return (await store.passkeys.list(namespace, user.id)).map(presentPasskey);
    },

    /** Revokes one of a user's passkeys (a lost device, a counter regression): audited; the user's sessions stay. */
    async revokePasskey(ctx: Context, namespace: string, organization: string, userId: string, credential: string) {
      await guard.require(ctx, 'users.write', { namespace, organization });
      const user = await userAt(ctx, namespace, organization, userId);
      await mayManage(ctx, user, { namespace, organization }, false);
      const change = context(ctx, { action: 'revoke-passkey' });
      const now = clock.now();
      return store.transaction(async (repo) => {
        const passkey = (await repo.passkeys.list(namespace, user.id)).find((p) => p.id === credential);
        if (!passkey || !(await repo.passkeys.remove(namespace, user.id, credential))) throw notFound(`user ${user.id} of ${namespace}/${organization} has no passkey ${credential}`);
        await repo.audit.append({ action: 'passkey.revoked', actor: change.actor, namespace, organization, kind: 'User', name: user.id, subject: user.id, data: { credential, name: passkey.name, rpId: passkey.rpId, ...(change.provenance ? { provenance: change.provenance } : {}) } }, now);
        return { revoked: presentPasskey(passkey) };
      });
    },

    /** Removes a runtime user and erases its personal data (users/erasure.ts); a declared user is removed from git instead. */
    async erase(ctx: Context, namespace: string, organization: string, userId: string) {
      await guard.require(ctx, 'users.write', { namespace, organization });
      const user = await userAt(ctx, namespace, organization, userId);
      await mayManage(ctx, user, { namespace, organization }, true);
      if (user.declaredAs !== null) throw new Conflict(`user ${user.id} is declared by User ${user.declaredAs}: delete the declaration instead (in git, or DELETE /admin/v1/namespaces/${namespace}/users/${user.declaredAs})`, { title: 'Declared user' });
      const change = context(ctx, { action: 'erase' });
      const result = await store.transaction((repo) => eraseUser(repo, user, { actor: change.actor, via: 'admin' }, clock.now()));
      // The erasure moved the configuration version: this server's issuers see it at their next request.
      options.objects.notifyChanged(namespace);
      return { user: user.id, erased: true, ...result };
    },

    async listUsers(ctx: Context, namespace: string, organization: string) {
      await guard.require(ctx, 'users.read', { namespace, organization });
      const factors = await totpFactorsOf(store, namespace);
      return (await store.users.list(namespace, [organization])).map((u) => presentUser(u, factors.has(u.id)));
    },

    /** `body`: `{email, displayName?, roles?}`, as read from the request (validated here). */
    async invite(ctx: Context, namespace: string, organization: string, input: unknown) {
      await guard.require(ctx, 'users.write', { namespace, organization });
      const body = parseBody(Invite, input, 'invitation');
      const roles = [...new Set(body.roles ?? [])];
      await refuseUnassignable(ctx, roles, { namespace, organization });
      const email = body.email.toLowerCase();
      const now = clock.now();
      const change = context(ctx, { action: 'invite' });
      const created = await store.transaction(async (repo) => {
        await repo.objects.lockNamespace(namespace);
        const org = await repo.objects.get('Organization', namespace, organization);
        if (!org) throw notFound(`Organization ${namespace}/${organization} does not exist`);
        const templates = new Map((await repo.objects.list({ kind: 'OrganizationTemplate', namespace })).map((t) => [t.object.metadata.name, t.object as OrganizationTemplateObject]));
        const domains = ownedDomains(org.object as OrganizationObject, templates);
        const domain = emailDomain(email);
        if (!domain || !domains.includes(domain)) {
          const detail = domains.length === 0 ? `organization ${organization} owns no email domain, so nobody can be invited to it; a workspace administrator declares spec.emailDomains first` : `${email} is not in a domain of organization ${organization} (${domains.join(', ')})`;
          throw new InvalidObject(detail, { errors: [{ path: 'email', message: domains.length === 0 ? 'the organization owns no email domain' : `must be in ${domains.join(', ')}` }] });
        }
        // Never a second account for an address that already signs in elsewhere: which of the two
        // a sign-in by email reaches would be ambiguous. The address is in a domain this
        // organization owns, so saying that it is taken tells its admin nothing about another partner.
        const holders = await repo.users.findByEmail(namespace, email);
        if (holders.some((u) => u.organization === organization)) throw new Conflict(`a user with email ${email} already exists in organization ${organization}`);
        if (holders.length > 0) throw new Conflict(`${email} already has an account outside organization ${organization}; a workspace administrator must resolve it before it can be invited`, { errors: [{ path: 'email', message: 'already has an account outside this organization' }] });
        const local =
          email
            .split('@')[0]!
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, '-')
            .replace(/^-+|-+$/g, '')
            .slice(0, 40) || 'user';
        const id = `${local}-${randomBytes(3).toString('hex')}`;
        const user: UserRecord = {
          namespace,
          id,
          organization,
          connection: 'directory',
          subject: id,
          email,
          declaredAs: null,
          profile: body.displayName ? { name: body.displayName } : {},
          roles,
          active: true,
          passwordHash: null,
          createdAt: now,
          updatedAt: now,
          lastLoginAt: null,
        };
        await repo.users.upsert(user);
        await repo.audit.append({ action: 'user.invited', actor: change.actor, namespace, organization, kind: 'User', name: id, subject: id, data: { email, roles } }, now);
        return user;
      });
      const link = await options.passwordLink(namespace, created.id, change);
      return { user: presentUser(created), passwordLink: link };
    },

    async operate(ctx: Context, namespace: string, organization: string, userId: string, operation: string) {
      if (!USER_OPERATIONS.includes(operation as UserOperation)) throw notFound(`no operation "${operation}"; use deactivate, reactivate, reset-mfa or password-link`);
      await guard.require(ctx, 'users.write', { namespace, organization });
      const user = await userAt(ctx, namespace, organization, userId);
      // `active` is a field of a declared User; passwords and MFA enrolment are runtime state.
      await mayManage(ctx, user, { namespace, organization }, operation === 'deactivate' || operation === 'reactivate');
      const change = context(ctx, { action: operation });
      const now = clock.now();
      if (operation === 'password-link') return { link: await options.passwordLink(namespace, user.id, change) };
      const result = await store.transaction(async (repo) => {
        let data: Record<string, unknown>;
        if (operation === 'deactivate') {
          const { deactivated, revoked } = await deactivate(repo, namespace, [user], now);
          data = { changed: deactivated.length > 0, revoked };
        } else if (operation === 'reactivate') {
          data = { changed: await repo.users.setActive(namespace, user.id, true, now) };
        } else {
          // Removing the sealed TOTP factor (and its recovery codes) makes the next sign-in enrol again;
          // sessions opened with the old factor end now.
          const changed = await repo.secrets.delete(TOTP_SCOPE, totpRow(namespace, user.id));
          const revoked = await repo.oidc.revokeAccounts([issuerPath(namespace), issuerPath(namespace, organization)], [user.id]);
          data = { changed, revoked };
          // The user hears of it: a reset nobody asked for is how a takeover would start.
          if (changed) await enqueueForUser(repo, user, 'mfa-reset', { resetAt: iso(now), resetBy: change.actor }, now);
        }
        const action = ({ deactivate: 'user.deactivated', reactivate: 'user.reactivated', 'reset-mfa': 'user.mfa-reset' } as const)[operation as 'deactivate' | 'reactivate' | 'reset-mfa'];
        await repo.audit.append({ action, actor: change.actor, namespace, organization, kind: 'User', name: user.id, subject: user.id, data }, now);
        return { ...data, user: presentUser((await repo.users.find(namespace, user.id))!, (await totpFactorsOf(repo, namespace)).has(user.id)) };
      });
      return { result };
    },

    /**
     * Replaces a runtime user's roles. The same guardrails as an invitation: only roles the
     * caller could give, never on a user declared in git, never on one holding a role beyond
     * the caller's, and never the caller's own (an administrator cannot raise itself).
     */
    async setRoles(ctx: Context, namespace: string, organization: string, userId: string, input: unknown) {
      await guard.require(ctx, 'users.write', { namespace, organization });
      const body = parseBody(RoleChange, input, 'role change');
      const user = await userAt(ctx, namespace, organization, userId);
      const principal = principalOf(ctx);
      const target = { namespace, organization };
      if (principal.kind === 'user' && principal.userId === user.id) await guard.refuse(ctx, 'you cannot change your own roles; ask another administrator', 'users.write', target);
      await mayManage(ctx, user, target, true);
      const roles = [...new Set(body.roles)];
      await refuseUnassignable(ctx, roles, target);
      const change = context(ctx, { action: 'set-roles' });
      const now = clock.now();
      return store.transaction(async (repo) => {
        const current = (await repo.users.find(namespace, user.id))!;
        await repo.users.upsert({ ...current, roles, updatedAt: now });
        await repo.audit.append({ action: 'user.roles-changed', actor: change.actor, namespace, organization, kind: 'User', name: user.id, subject: user.id, data: { from: current.roles, to: roles } }, now);
        return presentUser((await repo.users.find(namespace, user.id))!, (await totpFactorsOf(repo, namespace)).has(user.id));
      });
    },

    async certify(ctx: Context, namespace: string, organization: string, input: unknown) {
      await guard.require(ctx, 'lifecycle.write', { namespace, organization });
      const body = parseBody(Certify, input, 'certification');
      const stored = await store.objects.get('Organization', namespace, organization);
      if (!stored) throw notFound(`Organization ${namespace}/${organization} does not exist`);
      const org = stored.object as OrganizationObject;
      if (!org.spec.contract) throw new Conflict(`Organization ${namespace}/${organization} has no contract to certify; declare spec.contract first`);
      // Runtime state beside the declaration: the controller putting git back must not undo it,
      // and the declared spec.contract.certifiedAt still counts when it is later.
      const now = clock.now();
      const certifiedAt = new Date(now).toISOString();
      const change = context(ctx, { action: 'certify', ...(body?.note ? { note: body.note } : {}) });
      await store.transaction(async (repo) => {
        const before = await loadNamespace(repo, namespace);
        await repo.governance.recordCertification(namespace, organization, now, change.actor);
        await repo.objects.bumpConfigVersion(namespace, [{ kind: 'Certification', name: organization }]);
        await repo.audit.append(
          { action: 'Organization.certified', actor: change.actor, namespace, organization, kind: 'Organization', name: organization, data: { certifiedAt, contract: org.spec.contract!.id, ...(body?.note ? { note: body.note } : {}), ...(change.provenance ? { provenance: change.provenance } : {}) } },
          now,
        );
        // An overdue certification that had stopped the organization: its tokens from before stay ended.
        await endLapsedTokens(repo, before, now, change);
      });
      options.objects.notifyChanged(namespace);
      return withLifecycleStatus(org, await loadChains(store, namespace, [organization]), clock.now());
    },
  };
}
