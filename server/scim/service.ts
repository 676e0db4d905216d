import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { IncomingMessage } from 'node:http';
import { fingerprint, type RefusalAudit } from '../audit/refusals.ts';
import { federatedUserId } from '../broker/provision.ts';
import type { Clock } from '../clock.ts';
import { endUserTokens } from '../governance/token-ends.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';
import type { Repositories, ScimGroupRecord, ScimUserRecord, Store, UserRecord } from '../store/index.ts';
import { eraseUser } from '../users/erasure.ts';
import { SCIM_MEDIA_TYPE, readScimBody } from './body.ts';
import { type Caller, scimActor } from './caller.ts';
import { resourceTypes, schemas, serviceProviderConfig, MAX_RESULTS } from './discovery.ts';
import { ScimError, notFound } from './errors.ts';
import { matches, parseFilter } from './filter.ts';
import { refreshGroupClaims } from './group-claims.ts';
import { applyPatch } from './patch.ts';
import { ENTERPRISE_SCHEMA, GROUP_SCHEMA, GroupInput, USER_SCHEMA, UserInput, listResponse, pageOf, parseResource } from './resources.ts';
import type { ScimTokens } from './tokens.ts';
import { admit, profileOf, storedAttributes, userResource } from './user-resource.ts';

const PREFIX = '/scim/v2';

type Json = Record<string, unknown>;

export interface ScimServiceOptions {
  store: Store;
  clock: Clock;
  tokens: ScimTokens;
  /** Where refused tokens are audited (`access.refused-token`), rate-limited per source address. */
  refusals: RefusalAudit;
  /** The caller's address, as the organization's network gate reads it (trusted proxies). */
  addressOf(req: IncomingMessage): string;
  metrics?: Metrics | undefined;
  logger: Logger;
}

/**
 * The SCIM 2.0 service provider (RFC 7643/7644) at `{issuer}/scim/v2/` of each organization,
 * for the IdPs of its IdPConnections with `spec.scim.enabled`. Every request is authenticated
 * by a connection's bearer token and touches only what that connection provisioned.
 *
 * Users are the same accounts just-in-time sign-in through the connection makes: a SCIM user's
 * upstream subject is its `externalId` (or its `userName` when it has none), and its id is the
 * one provisioning derives from connection + subject (broker/provision.ts), so whichever comes
 * first, SCIM or the first sign-in, the other finds the same account. Deactivation and deletion
 * end the user's sessions, grants and tokens in the same transaction.
 */
export class ScimService {
  private readonly options: ScimServiceOptions;

  constructor(options: ScimServiceOptions) {
    this.options = options;
  }

  /** Answers a request below `{issuer}/scim/v2`; false when `rest` is not there. */
  async handle(ctx: Context, rest: string, snapshot: IssuerSnapshot, issuerUrl: string): Promise<boolean> {
    if (rest !== PREFIX && !rest.startsWith(`${PREFIX}/`)) return false;
    let status = 500;
    let caller: Caller | undefined;
    try {
      caller = await this.authenticate(ctx, snapshot, issuerUrl);
      await this.route(ctx, rest.slice(PREFIX.length).replace(/\/+$/, ''), caller);
      status = ctx.status;
    } catch (thrown) {
      // What nobody expected (the store failing) is logged, and still answered as SCIM: the IdP retries on a 500.
      if (!(thrown instanceof ScimError)) this.options.logger.error(`${ctx.method} ${snapshot.path}${rest} failed`, thrown);
      const error = thrown instanceof ScimError ? thrown : new ScimError(500, undefined, 'the request failed inside Gatehouse; it was logged, try again');
      status = error.status;
      this.answer(ctx, status, error.body);
      if (status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="scim"');
    } finally {
      this.options.metrics?.scimRequest(snapshot.namespace, snapshot.organization, status);
      if (caller) await this.options.store.scim.recordRequest(caller.namespace, caller.connection.metadata.name, status, this.options.clock.now());
    }
    return true;
  }

  /** `body` undefined: no content (204). Serialised here, so Koa keeps the SCIM media type rather than its JSON default. */
  private answer(ctx: Context, status: number, body: unknown): void {
    ctx.set('Cache-Control', 'no-store');
    if (body === undefined) {
      ctx.body = null;
      ctx.status = status;
      return;
    }
    ctx.body = JSON.stringify(body);
    ctx.type = SCIM_MEDIA_TYPE;
    ctx.status = status;
  }

  private async authenticate(ctx: Context, snapshot: IssuerSnapshot, issuerUrl: string): Promise<Caller> {
    const organization = snapshot.chain[0];
    // The namespace's shared issuer provisions nobody: SCIM is an organization's.
    if (!snapshot.organization || !organization) throw notFound('a SCIM endpoint at this issuer');
    const header = ctx.get('authorization');
    const m = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    const refuse = async (reason: string) => {
      // A flood of guesses is summarised per source, as refused tokens at userinfo are; only a fingerprint of what was presented is kept.
      await this.options.refusals.record('token', this.options.addressOf(ctx.req), {
        actor: 'anonymous',
        namespace: snapshot.namespace,
        organization: snapshot.organization ?? null,
        data: { method: ctx.method, path: ctx.path, reason: `scim-${reason}`, ...(m ? { fingerprint: fingerprint(m[1]!) } : {}) },
      });
      return new ScimError(401, undefined, "a valid SCIM bearer token of one of this organization's IdPConnections is required");
    };
    if (!m) throw await refuse(header ? 'malformed' : 'missing');
    const name = await this.options.tokens.identify(snapshot.namespace, snapshot.organization, m[1]!);
    if (!name) throw await refuse('unknown');
    const connection = snapshot.connections.find((c) => c.metadata.name === name && c.spec.organizationRef.name === snapshot.organization);
    if (!connection) throw await refuse('connection-gone');
    if (!connection.spec.scim?.enabled) throw await refuse('disabled');
    return { namespace: snapshot.namespace, organization, connection, snapshot, base: `${issuerUrl}${PREFIX}`, actor: scimActor(name) };
  }

  private async route(ctx: Context, path: string, caller: Caller): Promise<void> {
    const [, collection = '', id, extra] = path.split('/');
    if (extra !== undefined) throw notFound(`${path}`);
    const method = ctx.method;
    const only = (...allowed: string[]) => {
      if (!allowed.includes(method)) {
        ctx.set('Allow', allowed.join(', '));
        throw new ScimError(405, undefined, `${method} is not supported at ${PREFIX}${path}; use ${allowed.join(' or ')}`);
      }
    };
    switch (collection) {
      case 'ServiceProviderConfig':
        only('GET');
        return this.answer(ctx, 200, serviceProviderConfig(caller.base));
      case 'ResourceTypes': {
        only('GET');
        const types = resourceTypes(caller.base);
        if (id)
          return this.answer(
            ctx,
            200,
            types.find((t) => t.id === id) ??
              (() => {
                throw notFound(`ResourceType ${id}`);
              })(),
          );
        return this.answer(ctx, 200, listResponse(types, { startIndex: 1, count: types.length }));
      }
      case 'Schemas': {
        only('GET');
        const all = schemas(caller.base);
        if (id)
          return this.answer(
            ctx,
            200,
            all.find((s) => s.id === id) ??
              (() => {
                throw notFound(`Schema ${id}`);
              })(),
          );
        return this.answer(ctx, 200, listResponse(all, { startIndex: 1, count: all.length }));
      }
      case 'Users':
        if (!id) {
          only('GET', 'POST');
          return method === 'GET' ? this.listUsers(ctx, caller) : this.createUser(ctx, caller);
        }
        only('GET', 'PUT', 'PATCH', 'DELETE');
        if (method === 'GET') return this.answer(ctx, 200, await this.renderUser(this.options.store, caller, await this.ownUser(this.options.store, caller, id)));
        if (method === 'DELETE') return this.deleteUser(ctx, caller, id);
        return this.updateUser(ctx, caller, id, method === 'PATCH');
      case 'Groups':
        if (!id) {
          only('GET', 'POST');
          return method === 'GET' ? this.listGroups(ctx, caller) : this.createGroup(ctx, caller);
        }
        only('GET', 'PUT', 'PATCH', 'DELETE');
        if (method === 'GET') return this.answer(ctx, 200, this.shape(ctx, await this.renderGroup(this.options.store, caller, await this.ownGroup(this.options.store, caller, id))));
        if (method === 'DELETE') return this.deleteGroup(ctx, caller, id);
        return this.updateGroup(ctx, caller, id, method === 'PATCH');
      default:
        throw notFound(`${PREFIX}${path}`);
    }
  }

  // ---- users ----

  /** A user this connection provisioned; another connection's (or organization's) is "not found", as a missing one. */
  private async ownUser(repo: Repositories, caller: Caller, id: string): Promise<{ user: UserRecord; scim: ScimUserRecord }> {
    const scim = await repo.scim.user(caller.namespace, id);
    const user = scim && scim.connection === caller.connection.metadata.name ? await repo.users.find(caller.namespace, id) : undefined;
    if (!scim || !user || user.organization !== caller.organization.metadata.name) throw notFound(`User ${id}`);
    return { user, scim };
  }

  private async renderUser(repo: Repositories, caller: Caller, current: { user: UserRecord; scim: ScimUserRecord }): Promise<Json> {
    return userResource(caller, current, await repo.scim.groupsOf(caller.namespace, current.user.id));
  }

  private async listUsers(ctx: Context, caller: Caller): Promise<void> {
    const filter = typeof ctx.query.filter === 'string' && ctx.query.filter.trim() ? parseFilter(ctx.query.filter) : undefined;
    const page = pageOf(ctx.query, MAX_RESULTS);
    const { store } = this.options;
    const connection = caller.connection.metadata.name;
    // Three queries whatever the number of users: IdPs list (and look users up by filter) before every create.
    const users = new Map((await store.users.list(caller.namespace, [caller.organization.metadata.name])).map((u) => [u.id, u]));
    const groups = new Map<string, { id: string; displayName: string }[]>();
    for (const m of await store.scim.memberships(caller.namespace, connection)) groups.set(m.userId, [...(groups.get(m.userId) ?? []), m]);
    const out: Json[] = [];
    for (const scim of await store.scim.users(caller.namespace, connection)) {
      const user = users.get(scim.userId);
      if (!user) continue;
      const rendered = userResource(caller, { user, scim }, groups.get(user.id) ?? []);
      if (!filter || matches(rendered, filter)) out.push(rendered);
    }
    this.answer(ctx, 200, listResponse(out, page));
  }

  private async createUser(ctx: Context, caller: Caller): Promise<void> {
    const input = parseResource(UserInput, await readScimBody(ctx), 'User');
    const { userName, email } = admit(caller, input);
    const connection = caller.connection.metadata.name;
    const subject = input.externalId || userName;
    const now = this.options.clock.now();
    const rendered = await this.options.store.transaction(async (repo) => {
      if (await repo.scim.userByName(caller.namespace, connection, userName)) throw new ScimError(409, 'uniqueness', `userName: ${userName} is already provisioned by this connection`);
      // The account a sign-in through this connection made first is this user: it is adopted, never duplicated.
      const existing = await repo.users.findBySubject(caller.namespace, connection, subject);
      if (existing && (await repo.scim.user(caller.namespace, existing.id))) throw new ScimError(409, 'uniqueness', `externalId: a user with this externalId is already provisioned by this connection`);
      if (existing && existing.organization !== caller.organization.metadata.name) throw new ScimError(409, 'uniqueness', 'externalId: this subject belongs to an account of another organization');
      // A declared user (git, Pulumi) is the declaration's to change and remove, never an IdP's.
      if (existing?.declaredAs) throw new ScimError(409, 'uniqueness', `externalId: this subject is the declared User ${existing.declaredAs}, which only its declaration changes`);
      const active = input.active ?? true;
      const user: UserRecord = {
        namespace: caller.namespace,
        id: existing?.id ?? federatedUserId(caller.namespace, connection, subject),
        organization: caller.organization.metadata.name,
        connection,
        subject,
        email,
        declaredAs: existing?.declaredAs ?? null,
        profile: profileOf(input, existing?.profile),
        roles: existing?.roles ?? [...(caller.connection.spec.jit?.defaultRoles ?? [])],
        active: existing?.active ?? true,
        passwordHash: existing?.passwordHash ?? null,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
        lastLoginAt: existing?.lastLoginAt ?? null,
      };
      await repo.users.upsert(user);
      const scim: ScimUserRecord = { namespace: caller.namespace, userId: user.id, connection, userName, externalId: input.externalId ?? null, resource: storedAttributes(input), createdAt: now, updatedAt: now };
      await repo.scim.putUser(scim);
      await repo.audit.append({ action: 'user.provisioned', actor: caller.actor, namespace: caller.namespace, organization: user.organization, kind: 'User', name: user.id, subject: user.id, data: { via: 'scim', connection, adopted: existing !== undefined } }, now);
      const after = await this.setActive(repo, caller, user, active, now);
      return this.renderUser(repo, caller, { user: after, scim });
    });
    ctx.set('Location', `${caller.base}/Users/${String(rendered.id)}`);
    this.answer(ctx, 201, rendered);
  }

  /**
   * Applies `active`: deactivating ends the user's sessions, grants and tokens in this
   * transaction and marks it as this connection's doing; reactivating is allowed only for a user
   * this connection deactivated (one the platform deactivated stays so: 403).
   */
  private async setActive(repo: Repositories, caller: Caller, user: UserRecord, active: boolean, now: number): Promise<UserRecord> {
    if (user.active === active) return user;
    const base = { actor: caller.actor, namespace: caller.namespace, organization: user.organization, kind: 'User' as const, name: user.id, subject: user.id };
    if (!active) {
      await repo.users.setActive(caller.namespace, user.id, false, now, caller.actor);
      const revoked = await endUserTokens(repo, caller.namespace, [user]);
      await repo.audit.append({ ...base, action: 'user.deactivated', data: { via: 'scim', connection: caller.connection.metadata.name, changed: true, revoked } }, now);
      return { ...user, active: false, deactivatedBy: caller.actor, updatedAt: now };
    }
    if (user.deactivatedBy !== caller.actor) {
      throw new ScimError(403, undefined, user.deactivatedBy ? 'active: this user was deactivated by another connection' : 'active: this user was deactivated by the platform (an administrator, its declaration or deprovisioning); only a workspace administrator can reactivate it');
    }
    await repo.users.setActive(caller.namespace, user.id, true, now);
    await repo.audit.append({ ...base, action: 'user.reactivated', data: { via: 'scim', connection: caller.connection.metadata.name, changed: true } }, now);
    return { ...user, active: true, deactivatedBy: null, updatedAt: now };
  }

  private async updateUser(ctx: Context, caller: Caller, id: string, patch: boolean): Promise<void> {
    const body = await readScimBody(ctx);
    const now = this.options.clock.now();
    const connection = caller.connection.metadata.name;
    const rendered = await this.options.store.transaction(async (repo) => {
      const current = await this.ownUser(repo, caller, id);
      let next: unknown = body;
      if (patch) {
        const before = await this.renderUser(repo, caller, current);
        next = applyPatch(structuredClone(before), body, [ENTERPRISE_SCHEMA], USER_SCHEMA);
      }
      const input = parseResource(UserInput, next, 'User');
      const { userName, email } = admit(caller, input);
      // The upstream subject was fixed when the user was made (it is what sign-in finds the account by).
      const externalId = input.externalId ?? current.scim.externalId;
      if (current.scim.externalId !== null && externalId !== current.scim.externalId) throw new ScimError(400, 'mutability', 'externalId: cannot change once set (it is the subject the IdP signs the user in with)');
      if (userName !== current.scim.userName && (await repo.scim.userByName(caller.namespace, connection, userName))) throw new ScimError(409, 'uniqueness', `userName: ${userName} is already provisioned by this connection`);
      const user: UserRecord = { ...current.user, email, profile: profileOf(input, current.user.profile), updatedAt: now };
      await repo.users.upsert(user);
      const scim: ScimUserRecord = { ...current.scim, userName, externalId, resource: storedAttributes(input), updatedAt: now };
      await repo.scim.putUser(scim);
      await repo.audit.append({ action: 'user.updated', actor: caller.actor, namespace: caller.namespace, organization: user.organization, kind: 'User', name: user.id, subject: user.id, data: { via: 'scim', connection, operation: patch ? 'patch' : 'replace' } }, now);
      const after = input.active === undefined ? user : await this.setActive(repo, caller, user, input.active, now);
      return this.renderUser(repo, caller, { user: after, scim });
    });
    this.answer(ctx, 200, rendered);
  }

  private async deleteUser(ctx: Context, caller: Caller, id: string): Promise<void> {
    const now = this.options.clock.now();
    await this.options.store.transaction(async (repo) => {
      const { user } = await this.ownUser(repo, caller, id);
      await eraseUser(repo, user, { actor: caller.actor, via: 'scim', connection: caller.connection.metadata.name }, now);
    });
    this.answer(ctx, 204, undefined);
  }

  // ---- groups ----

  private async ownGroup(repo: Repositories, caller: Caller, id: string): Promise<ScimGroupRecord> {
    const group = await repo.scim.group(caller.namespace, id);
    if (!group || group.connection !== caller.connection.metadata.name) throw notFound(`Group ${id}`);
    return group;
  }

  /** `names`: the connection's users' userNames, when the caller already has them (a list renders many groups). */
  private async renderGroup(repo: Repositories, caller: Caller, group: ScimGroupRecord, names?: Map<string, string>): Promise<Json> {
    const members = await repo.scim.members(caller.namespace, group.id);
    const display = members.length === 0 ? new Map<string, string>() : (names ?? (await this.userNames(repo, caller)));
    const out = members.map((userId) => ({ value: userId, ...(display.has(userId) ? { display: display.get(userId) } : {}), $ref: `${caller.base}/Users/${userId}`, type: 'User' }));
    return {
      schemas: [GROUP_SCHEMA],
      id: group.id,
      ...(group.externalId ? { externalId: group.externalId } : {}),
      displayName: group.displayName,
      members: out,
      meta: { resourceType: 'Group', created: new Date(group.createdAt).toISOString(), lastModified: new Date(group.updatedAt).toISOString(), location: `${caller.base}/Groups/${group.id}` },
    };
  }

  private async userNames(repo: Repositories, caller: Caller): Promise<Map<string, string>> {
    return new Map((await repo.scim.users(caller.namespace, caller.connection.metadata.name)).map((u) => [u.userId, u.userName]));
  }

  /** `excludedAttributes=members` (what Okta and Entra ask to keep group reads small). */
  private shape(ctx: Context, resource: Json): Json {
    const excluded = typeof ctx.query.excludedAttributes === 'string' ? ctx.query.excludedAttributes.split(',').map((a) => a.trim().toLowerCase()) : [];
    if (!excluded.includes('members')) return resource;
    const { members: _m, ...rest } = resource;
    return rest;
  }

  /** The member ids of a group resource, each a user this connection provisioned (400 naming the member otherwise). */
  private async memberIds(repo: Repositories, caller: Caller, input: GroupInput): Promise<string[]> {
    const ids: string[] = [];
    const own = (input.members ?? []).length === 0 ? new Map<string, string>() : await this.userNames(repo, caller);
    for (const [i, m] of (input.members ?? []).entries()) {
      if (!own.has(m.value)) throw new ScimError(400, 'invalidValue', `members[${i}].value: ${m.value} is not a user this connection provisioned`);
      if (!ids.includes(m.value)) ids.push(m.value);
    }
    return ids;
  }

  private async listGroups(ctx: Context, caller: Caller): Promise<void> {
    const filter = typeof ctx.query.filter === 'string' && ctx.query.filter.trim() ? parseFilter(ctx.query.filter) : undefined;
    const page = pageOf(ctx.query, MAX_RESULTS);
    const { store } = this.options;
    const out: Json[] = [];
    const names = await this.userNames(store, caller);
    for (const group of await store.scim.groups(caller.namespace, caller.connection.metadata.name)) {
      const rendered = await this.renderGroup(store, caller, group, names);
      if (!filter || matches(rendered, filter)) out.push(this.shape(ctx, rendered));
    }
    this.answer(ctx, 200, listResponse(out, page));
  }

  private async createGroup(ctx: Context, caller: Caller): Promise<void> {
    const input = parseResource(GroupInput, await readScimBody(ctx), 'Group');
    const now = this.options.clock.now();
    const connection = caller.connection.metadata.name;
    const rendered = await this.options.store.transaction(async (repo) => {
      if ((await repo.scim.groups(caller.namespace, connection)).some((g) => g.displayName.toLowerCase() === input.displayName.toLowerCase())) {
        throw new ScimError(409, 'uniqueness', `displayName: a group named ${input.displayName} is already provisioned by this connection`);
      }
      const members = await this.memberIds(repo, caller, input);
      const group: ScimGroupRecord = { namespace: caller.namespace, id: randomUUID(), connection, displayName: input.displayName, externalId: input.externalId ?? null, createdAt: now, updatedAt: now };
      await repo.scim.putGroup(group);
      await repo.scim.addMembers(caller.namespace, group.id, members);
      await refreshGroupClaims(repo, caller, members, now);
      await repo.audit.append({ action: 'group.provisioned', actor: caller.actor, namespace: caller.namespace, organization: caller.organization.metadata.name, data: { connection, group: group.id, displayName: group.displayName, members: members.length } }, now);
      return this.renderGroup(repo, caller, group);
    });
    ctx.set('Location', `${caller.base}/Groups/${String(rendered.id)}`);
    this.answer(ctx, 201, rendered);
  }

  private async updateGroup(ctx: Context, caller: Caller, id: string, patch: boolean): Promise<void> {
    const body = await readScimBody(ctx);
    const now = this.options.clock.now();
    const connection = caller.connection.metadata.name;
    const rendered = await this.options.store.transaction(async (repo) => {
      const group = await this.ownGroup(repo, caller, id);
      const before = await repo.scim.members(caller.namespace, id);
      let next: unknown = body;
      if (patch) next = applyPatch(structuredClone(await this.renderGroup(repo, caller, group)), body, [], GROUP_SCHEMA);
      const input = parseResource(GroupInput, next, 'Group');
      if (input.displayName.toLowerCase() !== group.displayName.toLowerCase() && (await repo.scim.groups(caller.namespace, connection)).some((g) => g.displayName.toLowerCase() === input.displayName.toLowerCase())) {
        throw new ScimError(409, 'uniqueness', `displayName: a group named ${input.displayName} is already provisioned by this connection`);
      }
      const after = await this.memberIds(repo, caller, input);
      const added = after.filter((m) => !before.includes(m));
      const removed = before.filter((m) => !after.includes(m));
      const updated: ScimGroupRecord = { ...group, displayName: input.displayName, externalId: input.externalId ?? group.externalId, updatedAt: now };
      await repo.scim.putGroup(updated);
      await repo.scim.addMembers(caller.namespace, id, added);
      await repo.scim.removeMembers(caller.namespace, id, removed);
      // A renamed group renames the claim of every member.
      await refreshGroupClaims(repo, caller, updated.displayName !== group.displayName ? [...after, ...removed] : [...added, ...removed], now);
      await repo.audit.append({ action: 'group.updated', actor: caller.actor, namespace: caller.namespace, organization: caller.organization.metadata.name, data: { connection, group: id, displayName: updated.displayName, added, removed } }, now);
      return this.renderGroup(repo, caller, updated);
    });
    this.answer(ctx, 200, this.shape(ctx, rendered));
  }

  private async deleteGroup(ctx: Context, caller: Caller, id: string): Promise<void> {
    const now = this.options.clock.now();
    await this.options.store.transaction(async (repo) => {
      const group = await this.ownGroup(repo, caller, id);
      const connection = caller.connection.metadata.name;
      const members = await repo.scim.members(caller.namespace, id);
      await repo.scim.deleteGroup(caller.namespace, id);
      await refreshGroupClaims(repo, caller, members, now);
      await repo.audit.append({ action: 'group.deleted', actor: caller.actor, namespace: caller.namespace, organization: caller.organization.metadata.name, data: { connection, group: id, displayName: group.displayName, members: members.length } }, now);
    });
    this.answer(ctx, 204, undefined);
  }
}
