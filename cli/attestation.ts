import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  durationSeconds,
  effectiveRows,
  effectiveScopes,
  effectiveSettings,
  type Declarations,
  type EffectiveRow,
  type Source,
  type AccessPolicyObject,
  type AnyObject,
  type ClaimMappingObject,
  type ClientObject,
  type IdPConnectionObject,
  type OrganizationObject,
  type OrganizationTemplateObject,
  type UserObject,
  type WorkspaceObject,
} from '../api/index.ts';
import type { ManifestObject } from '../controller/sources/manifest-files.ts';
import { certificationDueAt, withCertification } from '../server/oidc/standing.ts';
import type { Store } from '../server/store/index.ts';

const run = promisify(execFile);

/** One commit, as git tells it. */
export interface Commit {
  commit: string;
  author: string;
  email: string;
  date: string;
  subject: string;
}

/** Where a declaration lives and who put it there: the first and the latest commit of its file. */
export interface Declaration {
  file: string;
  declaredIn: Commit | null;
  lastChangedIn: Commit | null;
}

export interface Flag {
  code: 'contract-ended-still-active' | 'no-owner' | 'certification-overdue' | 'never-certified' | 'inactive-users';
  message: string;
}

export interface OrganizationAttestation {
  namespace: string;
  name: string;
  displayName: string;
  parent: string | null;
  suspended: boolean;
  declaration: Declaration;
  contract: { id: string; partnerType: string; owner: string; startsAt: string | null; endsAt: string; certifiedAt: string | null } | null;
  /** `certifiedIn`: the commit that declared it; `certifiedBy`/`via`: when it was made through the admin API instead (later than git's). */
  certification: { certifiedAt: string | null; certifiedIn: Commit | null; certifiedBy?: string; via?: 'admin-api'; dueAt: string | null; overdue: boolean };
  applications: { name: string; displayName: string | null; type: string; shared: boolean; scopes: string[]; apiScopesAllowed: string[]; audiences: string[]; declaration: Declaration }[];
  claims: { name: string; source: string; tokens: string[]; via: string; declaration: Declaration | null }[];
  /** Each setting after the template and the parents (api/effective.ts), with where it came from. */
  effective: EffectiveRow[];
  identityProviders: { name: string; type: string; upstream: string | null; scim: boolean; declaration: Declaration }[];
  /**
   * Users with a role: `declared` ones from git (their declaration), and with the store those a
   * partner admin invited at run time (`runtime`: no declaration; who invited them and when,
   * from the audit log).
   */
  admins: ({ name: string; email: string; roles: string[]; active: boolean; lastSignInAt: string | null } & ({ source: 'declared'; declaration: Declaration } | { source: 'runtime'; declaration: null; invitedBy: string | null; invitedAt: string | null }))[];
  activity: { lastSignInAt: string | null; lastTokenIssuedAt: string | null } | null;
  inactiveUsers: { id: string; email: string; lastSignInAt: string | null }[] | null;
  /** Scopes its AccessPolicies grant only on approval, and who the policy says decides. */
  approvalScopes: { scope: string; policy: string; client: string | null; approvers: { roles: string[]; users: string[]; adminTokens: string[] } }[];
  /** Approvals standing now (from the store): who holds which scope, approved by whom, until when; null without a store. */
  standingApprovals: { id: string; user: string; client: string; scopes: string[]; approvedBy: string | null; approvedAt: string | null; expiresAt: string | null; justification: string | null }[] | null;
  /**
   * Users removed and erased (admin API or their IdP's SCIM DELETE), from the audit log: only the
   * pseudonymous id each was known by, never personal data (none is left to show). Null without a store.
   */
  erasures: { user: string; at: string; via: string; actor: string }[] | null;
  /** The period behind `inactiveUsers`: `--inactive-days`, else its namespace's Workspace `lifecycle.inactiveUserAfter`, else 90. */
  inactiveAfterDays: number;
  flags: Flag[];
}

export interface Attestation {
  generatedAt: string;
  directory: string;
  git: { head: string | null };
  store: string | null;
  /**
   * The inactive-user period of the whole report when there is one: `--inactive-days`, or the
   * one period every namespace's Workspace agrees on; null when namespaces differ (each
   * organization then carries its own `inactiveAfterDays`, as does `inactiveAfterDaysByNamespace`).
   */
  inactiveAfterDays: number | null;
  inactiveAfterDaysByNamespace: Record<string, number>;
  organizations: OrganizationAttestation[];
}

const FORMAT = ['%H', '%an', '%ae', '%aI', '%s'].join('%x1f');

function parseLog(stdout: string): Commit[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [commit, author, email, date, subject] = l.split('\x1f');
      return { commit: commit!, author: author!, email: email!, date: date!, subject: subject ?? '' };
    });
}

/** git log of the declarations' files, read through execFile (no shell), cached per question. */
class GitHistory {
  private readonly dir: string;
  private readonly cache = new Map<string, Promise<Commit[]>>();
  available = true;

  constructor(dir: string) {
    this.dir = dir;
  }

  private async log(args: string[]): Promise<Commit[]> {
    if (!this.available) return [];
    const key = args.join('\0');
    let pending = this.cache.get(key);
    if (!pending) {
      pending = run('git', ['-C', this.dir, 'log', `--format=${FORMAT}`, ...args], { maxBuffer: 64 * 1024 * 1024 }).then(
        ({ stdout }) => parseLog(stdout),
        () => [],
      );
      this.cache.set(key, pending);
    }
    return pending;
  }

  async head(): Promise<string | null> {
    try {
      return (await run('git', ['-C', this.dir, 'rev-parse', 'HEAD'])).stdout.trim();
    } catch {
      this.available = false;
      return null;
    }
  }

  async declaration(file: string): Promise<Declaration> {
    // Follow renames only when the content moved unchanged: git's default 50% similarity makes
    // --follow credit a new small YAML file to whoever wrote a different, similar-looking one.
    const commits = await this.log(['--follow', '-M100%', '--', file]);
    return { file, declaredIn: commits[commits.length - 1] ?? null, lastChangedIn: commits[0] ?? null };
  }

  /** The latest commit that added or removed `text` in `file` (git log -S): who wrote that value. */
  async introduced(file: string, text: string): Promise<Commit | null> {
    return (await this.log(['-1', '-S', text, '--', file]))[0] ?? null;
  }
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());

/**
 * The attestation record of every organization declared under a directory: what it may
 * reach and what its tokens say, who declared each of those and when (git), what it did
 * lately (the audit log, when a store is given), and what an auditor should look at.
 */
export async function buildAttestation(options: { dir: string; manifests: ManifestObject[]; store?: Store; now: number; inactiveAfterDays?: number }): Promise<Attestation> {
  const { manifests, now, store } = options;
  const git = new GitHistory(options.dir);
  const head = await git.head();
  const of = <T extends AnyObject>(kind: string) => manifests.filter((m) => m.object.kind === kind) as (ManifestObject & { object: T })[];
  const workspaces = of<WorkspaceObject>('Workspace');
  const organizations: OrganizationAttestation[] = [];
  const byNamespace: Record<string, number> = {};

  for (const entry of of<OrganizationObject>('Organization')) {
    const org = entry.object;
    const namespace = org.metadata.namespace ?? 'default';
    const name = org.metadata.name;
    const inNamespace = <T extends AnyObject>(kind: string) => of<T>(kind).filter((m) => (m.object.metadata.namespace ?? 'default') === namespace);
    // Only the organization's own namespace's Workspace: the server never applies another namespace's.
    const workspace = inNamespace<WorkspaceObject>('Workspace')[0]?.object;
    const lifecycle = workspace?.spec.lifecycle;
    const inactiveAfterDays = inactivePeriodDays(lifecycle?.inactiveUserAfter, options.inactiveAfterDays);
    byNamespace[namespace] = inactiveAfterDays;
    const inactiveMs = inactiveAfterDays * 86400_000;
    const contract = org.spec.contract;

    const templates = inNamespace<OrganizationTemplateObject>('OrganizationTemplate');
    const template = org.spec.templateRef ? templates.find((t) => t.object.metadata.name === org.spec.templateRef!.name) : undefined;
    const mappings = inNamespace<ClaimMappingObject>('ClaimMapping');
    const declarations: Declarations = {
      workspace,
      organizations: new Map(inNamespace<OrganizationObject>('Organization').map((o) => [o.object.metadata.name, o.object])),
      templates: new Map(templates.map((t) => [t.object.metadata.name, t.object])),
      claimMappings: mappings.map((m) => m.object),
      policies: inNamespace<AccessPolicyObject>('AccessPolicy').map((p) => p.object),
    };
    const settings = effectiveSettings(declarations, name)!;
    const clients = inNamespace<ClientObject>('Client').filter((c) => !c.object.spec.organizationRef || c.object.spec.organizationRef.name === name);
    const applications = await Promise.all(
      clients.map(async (c) => {
        const spec = c.object.spec;
        // As the server does: a shared (workspace) client takes no organization template's defaults,
        // and a shared m2m client gets no API scope (no user, so no organization whose policy decides).
        const shared = !spec.organizationRef;
        const defaults = shared ? undefined : template?.object.spec.clientDefaults;
        const scopes = spec.scopes ?? defaults?.scopes ?? ['openid'];
        // As the server does: the organization's policies, narrowed by its parents'.
        const allowed = effectiveScopes(declarations, name, c.object.metadata.name);
        return {
          name: c.object.metadata.name,
          displayName: spec.displayName ?? null,
          type: spec.type,
          shared,
          scopes,
          apiScopesAllowed: shared && spec.type === 'm2m' ? [] : scopes.filter((s) => allowed.has(s)),
          audiences: spec.audiences ?? defaults?.audiences ?? [],
          declaration: await git.declaration(c.file),
        };
      }),
    );

    const claims: OrganizationAttestation['claims'] = [{ name: 'organization_id', source: 'organization.id', tokens: ['access', 'id'], via: 'built in', declaration: null }];
    /** The object that declared an effective claim: a ClaimMapping of the organization (or the parent), else its template. */
    const declaredBy = (source: Source, claim: string): { via: string; file: string } | undefined => {
      const owner = source === 'organization' ? name : source.startsWith('parent:') ? source.slice('parent:'.length) : undefined;
      const mapping = owner === undefined ? undefined : mappings.find((m) => m.object.spec.organizationRef.name === owner && !m.object.spec.clientRef && m.object.spec.claims.some((c) => c.name === claim));
      if (mapping) return { via: `ClaimMapping ${mapping.object.metadata.name}${owner !== name ? ` (inherited from ${owner})` : ''}`, file: mapping.file };
      const templateName = source.startsWith('template:') ? source.slice('template:'.length) : owner ? declarations.organizations.get(owner)?.spec.templateRef?.name : undefined;
      const t = templates.find((t) => t.object.metadata.name === templateName);
      return t ? { via: `OrganizationTemplate ${t.object.metadata.name}${owner && owner !== name ? ` (inherited from ${owner})` : ''}`, file: t.file } : undefined;
    };
    for (const { value: c, source } of settings.claims) {
      const origin = declaredBy(source, c.name);
      claims.push({ name: c.name, source: c.from ?? `value ${JSON.stringify(c.value)}`, tokens: c.tokens, via: origin?.via ?? source, declaration: origin ? await git.declaration(origin.file) : null });
    }
    for (const m of mappings.filter((m) => m.object.spec.organizationRef.name === name && m.object.spec.clientRef)) {
      for (const c of m.object.spec.claims) {
        claims.push({ name: c.name, source: c.from ?? `value ${JSON.stringify(c.value)}`, tokens: c.tokens, via: `ClaimMapping ${m.object.metadata.name} (client ${m.object.spec.clientRef!.name})`, declaration: await git.declaration(m.file) });
      }
    }

    const identityProviders = await Promise.all(
      inNamespace<IdPConnectionObject>('IdPConnection')
        .filter((i) => i.object.spec.organizationRef.name === name)
        .map(async (i) => {
          const spec = i.object.spec as IdPConnectionObject['spec'] & { oidc?: { issuer?: string }; saml?: { entityId?: string; metadataUrl?: string } };
          return { name: i.object.metadata.name, type: spec.type, upstream: spec.oidc?.issuer ?? spec.saml?.entityId ?? spec.saml?.metadataUrl ?? null, scim: spec.scim?.enabled === true, declaration: await git.declaration(i.file) };
        }),
    );

    const runtimeUsers = store ? await store.users.list(namespace, [name]) : undefined;
    const lastLogin = new Map((runtimeUsers ?? []).map((u) => [u.id, u.lastLoginAt]));
    const declaredUsers = inNamespace<UserObject>('User').filter((u) => u.object.spec.organizationRef?.name === name);
    const admins: OrganizationAttestation['admins'] = await Promise.all(
      declaredUsers
        .filter((u) => (u.object.spec.roles ?? []).length > 0)
        .map(async (u) => ({
          name: u.object.metadata.name,
          email: u.object.spec.email,
          roles: u.object.spec.roles ?? [],
          active: u.object.spec.active,
          lastSignInAt: iso(lastLogin.get(u.object.metadata.name)),
          source: 'declared' as const,
          declaration: await git.declaration(u.file),
        })),
    );
    // Roles given at run time (a partner admin's invitation) are access too: an auditor reading only git would miss them.
    const declaredNames = new Set(declaredUsers.map((u) => u.object.metadata.name));
    for (const u of (runtimeUsers ?? []).filter((u) => u.declaredAs === null && !declaredNames.has(u.id) && u.roles.length > 0)) {
      const invited = store ? (await store.audit.query({ namespace, organizations: [name], action: 'user.invited', subject: u.id, limit: 1 }))[0] : undefined;
      admins.push({ name: u.id, email: u.email, roles: u.roles, active: u.active, lastSignInAt: iso(u.lastLoginAt), source: 'runtime', declaration: null, invitedBy: invited?.actor ?? null, invitedAt: iso(invited?.at) });
    }

    let activity: OrganizationAttestation['activity'] = null;
    let inactiveUsers: OrganizationAttestation['inactiveUsers'] = null;
    let erasures: OrganizationAttestation['erasures'] = null;
    if (store) {
      erasures = (await store.audit.query({ namespace, organizations: [name], action: 'user.erased', limit: 1000 })).map((r) => ({ user: r.subject ?? r.name ?? '', at: new Date(r.at).toISOString(), via: String(r.data.via ?? ''), actor: r.actor }));
      const last = async (action: string) => (await store.audit.query({ namespace, organizations: [name], action, limit: 1 }))[0]?.at;
      activity = { lastSignInAt: iso(await last('login.succeeded')), lastTokenIssuedAt: iso(await last('token.issued')) };
      inactiveUsers = (runtimeUsers ?? []).filter((u) => u.active && now - (u.lastLoginAt ?? u.createdAt) > inactiveMs).map((u) => ({ id: u.id, email: u.email, lastSignInAt: iso(u.lastLoginAt) }));
    }

    const policies = inNamespace<AccessPolicyObject>('AccessPolicy').filter((p) => p.object.spec.organizationRef.name === name);
    const approvalScopes = policies.flatMap((p) =>
      p.object.spec.scopes
        .filter((g) => g.requireApproval)
        .map((g) => ({ scope: g.scope, policy: p.object.metadata.name, client: p.object.spec.clientRef?.name ?? null, approvers: { roles: p.object.spec.approvers?.roles ?? [], users: p.object.spec.approvers?.users ?? [], adminTokens: p.object.spec.approvers?.adminTokens ?? [] } })),
    );
    const standingApprovals = store
      ? (await store.accessRequests.approvals(namespace, now)).filter((r) => r.organization === name).map((r) => ({ id: r.id, user: r.userId, client: r.clientId, scopes: r.scopes, approvedBy: r.decidedBy, approvedAt: iso(r.decidedAt), expiresAt: iso(r.expiresAt), justification: r.justification }))
      : null;

    // A certification made through the admin API (in the store) counts when it is later than the committed one.
    const viaApi = store ? (await store.governance.certifications(namespace)).get(name) : undefined;
    const judged = withCertification(org, viaApi?.at);
    const byApi = judged !== org;
    const certifiedAt = judged.spec.contract?.certifiedAt ?? null;
    const due = certificationDueAt(judged, lifecycle);
    const certification = {
      certifiedAt,
      certifiedIn: !byApi && contract?.certifiedAt ? await git.introduced(entry.file, contract.certifiedAt) : null,
      ...(byApi ? { certifiedBy: viaApi!.actor, via: 'admin-api' as const } : {}),
      dueAt: iso(due),
      overdue: due !== undefined && due <= now,
    };

    const flags: Flag[] = [];
    if (contract && Date.parse(contract.endsAt) <= now && !org.spec.suspended) {
      flags.push({ code: 'contract-ended-still-active', message: `contract ${contract.id} ended at ${contract.endsAt} but the organization is not suspended (sign-ins are refused; remove or suspend it)` });
    }
    if (!contract?.owner) flags.push({ code: 'no-owner', message: 'no contract owner: nobody certifies this partner' });
    if (certification.overdue) flags.push({ code: 'certification-overdue', message: `certification was due at ${certification.dueAt}${certifiedAt ? ` (last certified ${certifiedAt})` : ' (never certified)'}` });
    else if (contract && !certifiedAt && lifecycle?.reviewPeriod) flags.push({ code: 'never-certified', message: 'never certified: commit spec.contract.certifiedAt' });
    if (inactiveUsers && inactiveUsers.length > 0) flags.push({ code: 'inactive-users', message: `${inactiveUsers.length} active user${inactiveUsers.length === 1 ? ' has' : 's have'} not signed in for ${inactiveAfterDays} days` });

    organizations.push({
      namespace,
      name,
      displayName: org.spec.displayName,
      parent: org.spec.parentRef?.name ?? null,
      suspended: org.spec.suspended,
      declaration: await git.declaration(entry.file),
      contract: contract ? { id: contract.id, partnerType: contract.partnerType, owner: contract.owner, startsAt: contract.startsAt ?? null, endsAt: contract.endsAt, certifiedAt: contract.certifiedAt ?? null } : null,
      certification,
      applications,
      claims,
      effective: effectiveRows(settings),
      identityProviders,
      admins,
      activity,
      inactiveUsers,
      erasures,
      inactiveAfterDays,
      approvalScopes,
      standingApprovals,
      flags,
    });
  }
  organizations.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const periods = new Set(Object.values(byNamespace));
  const inactiveAfterDays = options.inactiveAfterDays ?? (periods.size === 1 ? [...periods][0]! : periods.size === 0 ? inactivePeriodDays(workspaces[0]?.object.spec.lifecycle?.inactiveUserAfter, undefined) : null);
  return {
    generatedAt: new Date(now).toISOString(),
    directory: options.dir,
    git: { head },
    store: store ? `${store.driver.dialect} at ${store.location}` : null,
    inactiveAfterDays,
    inactiveAfterDaysByNamespace: byNamespace,
    organizations,
  };
}

/** Days without a sign-in after which a user is inactive: the override, else the Workspace's `inactiveUserAfter`, else 90. */
export function inactivePeriodDays(inactiveUserAfter: string | undefined, override: number | undefined): number {
  if (override !== undefined) return override;
  return inactiveUserAfter ? durationSeconds(inactiveUserAfter) / 86400 : 90;
}

const who = (c: Commit | null) => (c ? `${c.commit.slice(0, 7)} ${c.author} <${c.email}> ${c.date}` : 'not in git history');
const decl = (d: Declaration) => (d.declaredIn && d.lastChangedIn && d.declaredIn.commit !== d.lastChangedIn.commit ? `\`${d.file}\`: declared ${who(d.declaredIn)}, last changed ${who(d.lastChangedIn)}` : `\`${d.file}\`: declared ${who(d.declaredIn)}`);
const cell = (s: string) => s.replace(/\|/g, '\\|');

export function attestationMarkdown(a: Attestation): string {
  const lines: string[] = [
    `# Partner access attestation`,
    '',
    `Generated ${a.generatedAt} from \`${a.directory}\`${a.git.head ? ` at commit ${a.git.head}` : ' (not a git checkout: no provenance)'}.`,
    a.store ? `Activity from the audit log (${a.store}).` : 'No store given (GATEHOUSE_DATA_DIR / DATABASE_URL): no sign-in activity.',
    '',
  ];
  const flagged = a.organizations.filter((o) => o.flags.length > 0);
  lines.push(`## Findings`, '');
  if (flagged.length === 0) lines.push('None.', '');
  for (const o of flagged) for (const f of o.flags) lines.push(`- **${o.namespace}/${o.name}** \`${f.code}\`: ${f.message}`);
  if (flagged.length) lines.push('');
  for (const o of a.organizations) {
    lines.push(`## ${o.displayName} (${o.namespace}/${o.name})${o.suspended ? ' — SUSPENDED' : ''}`, '');
    if (o.parent) lines.push(`Sub-organization of ${o.parent}.`, '');
    lines.push(`Declared in ${decl(o.declaration)}.`, '');
    if (o.contract) {
      const c = o.contract;
      lines.push('| Contract | Type | Owner | Starts | Ends | Certified |', '|---|---|---|---|---|---|', `| ${cell(c.id)} | ${c.partnerType} | ${c.owner} | ${c.startsAt ?? '—'} | ${c.endsAt} | ${c.certifiedAt ?? 'never'} |`, '');
    } else lines.push('No contract declared.', '');
    lines.push(
      `Certification: ${o.certification.certifiedAt ? `${o.certification.certifiedAt}, ${o.certification.via === 'admin-api' ? `through the admin API by ${o.certification.certifiedBy}` : `committed by ${who(o.certification.certifiedIn)}`}` : 'never'}${o.certification.dueAt ? `; next due ${o.certification.dueAt}${o.certification.overdue ? ' (OVERDUE)' : ''}` : ''}.`,
      '',
    );
    lines.push('### Applications', '');
    if (o.applications.length === 0) lines.push('None.');
    for (const app of o.applications) lines.push(`- **${app.name}** (${app.type}${app.shared ? ', shared by the workspace' : ''}): scopes ${app.scopes.join(' ') || '—'}; API scopes allowed by policy ${app.apiScopesAllowed.join(' ') || '—'}; audiences ${app.audiences.join(' ') || '—'}. ${decl(app.declaration)}`);
    lines.push('', '### Claims in its tokens', '');
    for (const c of o.claims) lines.push(`- \`${c.name}\` ← ${c.source} (${c.tokens.join(', ')} token) via ${c.via}${c.declaration ? `. ${decl(c.declaration)}` : ''}`);
    lines.push('', '### Effective settings', '', '| Setting | Value | From |', '|---|---|---|');
    for (const r of o.effective) lines.push(`| ${r.field} | ${cell(r.value)} | ${r.source}${r.narrowedBy ? `, narrowed by ${r.narrowedBy}` : ''} |`);
    lines.push('', '### Identity providers', '');
    if (o.identityProviders.length === 0) lines.push('None declared.');
    for (const i of o.identityProviders) lines.push(`- **${i.name}** (${i.type}${i.upstream ? `, ${i.upstream}` : ''}${i.scim ? ', provisions users by SCIM' : ''}). ${decl(i.declaration)}`);
    lines.push('', '### Administrators', '');
    if (o.admins.length === 0) lines.push('None declared.');
    for (const ad of o.admins) {
      const origin = ad.source === 'declared' ? decl(ad.declaration) : `**Invited at run time** (not in git)${ad.invitedBy ? ` by ${ad.invitedBy}` : ''}${ad.invitedAt ? ` at ${ad.invitedAt}` : ''}.`;
      lines.push(`- **${ad.name}** ${ad.email}: ${ad.roles.join(', ')}${ad.active ? '' : ' (deactivated)'}; last sign-in ${ad.lastSignInAt ?? (o.activity ? 'never' : 'unknown')}. ${origin}`);
    }
    if (o.approvalScopes.length > 0 || (o.standingApprovals && o.standingApprovals.length > 0)) {
      lines.push('', '### Access approvals', '');
      for (const g of o.approvalScopes) {
        const by = [...g.approvers.roles.map((r) => `${r} of the organization`), ...g.approvers.users.map((u) => `workspace user ${u}`), ...g.approvers.adminTokens.map((t) => `admin token ${t}`)];
        lines.push(`- \`${g.scope}\` needs approval (AccessPolicy ${g.policy}${g.client ? `, client ${g.client}` : ''}); approvers: ${by.join(', ')}.`);
      }
      if (o.standingApprovals === null) lines.push('', 'Standing approvals: unknown (no store).');
      else if (o.standingApprovals.length === 0) lines.push('', 'Standing approvals: none.');
      else {
        lines.push('', '| User | Scopes | Client | Approved by | Approved | Expires | Request |', '|---|---|---|---|---|---|---|');
        for (const a of o.standingApprovals) lines.push(`| ${cell(a.user)} | ${cell(a.scopes.join(' '))} | ${cell(a.client)} | ${cell(a.approvedBy ?? '—')} | ${a.approvedAt ?? '—'} | ${a.expiresAt ?? 'with the contract'} | ${a.id} |`);
      }
    }
    lines.push('', '### Activity', '');
    if (!o.activity) lines.push('Unknown (no store).');
    else {
      lines.push(`Last sign-in: ${o.activity.lastSignInAt ?? 'never'}. Last token issued: ${o.activity.lastTokenIssuedAt ?? 'never'}.`);
      lines.push(`Users removed and erased: ${o.erasures?.length ? o.erasures.map((e) => `${e.user} at ${e.at} (${e.via}, by ${e.actor})`).join(', ') : 'none'}.`);
      lines.push(`Users without a sign-in for ${o.inactiveAfterDays} days: ${o.inactiveUsers?.length ? o.inactiveUsers.map((u) => `${u.id} <${u.email}> (last ${u.lastSignInAt ?? 'never'})`).join(', ') : 'none'}.`);
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}
