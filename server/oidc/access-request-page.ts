import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import { issuerPath } from '../../api/index.ts';
import { permissionsOfRoles } from '../governance/policy.ts';
import type { Clock } from '../clock.ts';
import type { AccessRequestRecord, Store } from '../store/index.ts';
import { approvalScopes, approversOf, scopesToRequest } from './approval.ts';
import { enqueue } from '../notifications/outbox.ts';
import { accessRequestPath } from '../governance/access-requests.ts';
import { readForm } from './forms.ts';
import { escapeHtml, page } from './html.ts';
import type { IssuerSnapshot } from './snapshot.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

export const JUSTIFICATION_LIMIT = 1000;

/** Ids are in admin API paths: URL-safe, unguessable enough not to be enumerated. */
export const newRequestId = () => `ar-${randomBytes(9).toString('hex')}`;

/**
 * The `approval` prompt (interaction-policy.ts): the user asked for a scope that needs an approver's
 * approval. The request is recorded when the page is first shown, so it exists even if the
 * user closes it; the page says so, takes an optional justification, and then lets the sign-in
 * go on without the scope. It is not a refusal: the user still reaches the application with
 * everything else, and gets the scope at a sign-in after the approval.
 */
export async function accessRequestPage(ctx: Context, provider: Provider, snapshot: IssuerSnapshot, details: Details, deps: { store: Store; clock: Clock; publicUrl: () => string }): Promise<void> {
  const uid = details.uid;
  const accountId = details.session?.accountId;
  const user = accountId ? await deps.store.users.find(snapshot.namespace, accountId) : undefined;
  const clientId = String(details.params.client_id ?? '');
  const client = snapshot.clients.find((c) => c.clientId === clientId);
  const org = user ? snapshot.organizations.get(user.organization) : undefined;
  const branding = { title: org?.spec.displayName ?? snapshot.workspace?.spec.displayName ?? snapshot.namespace, primaryColor: org?.spec.branding?.primaryColor, logo: org?.spec.branding?.logo };
  const finish = async (request: string | undefined) => {
    await provider.interactionFinished(ctx.req, ctx.res, { approval: { requested: request ?? null } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
  };
  if (!user) return finish(undefined); // the login checks deal with a session whose user is gone

  if (ctx.method === 'POST') {
    const form = await readForm(ctx);
    const id = form.get('request') ?? '';
    // Control characters would only garble what approvers read.
    const justification = (form.get('justification') ?? '')
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
      .trim()
      .slice(0, JUSTIFICATION_LIMIT);
    // Only the requester's own pending request takes a justification (justify checks both).
    if (justification && /^ar-[0-9a-f]{18}$/.test(id)) await deps.store.accessRequests.justify(snapshot.namespace, id, user.id, justification);
    return finish(id || undefined);
  }

  const gated = approvalScopes(snapshot, snapshot.organization ?? (user.organization || undefined), client);
  const asked = typeof details.params.scope === 'string' ? details.params.scope.split(' ') : [];
  const now = deps.clock.now();
  const missing = await scopesToRequest(deps.store, snapshot.namespace, user.id, gated, asked, now);
  let request: AccessRequestRecord | undefined;
  if (missing.length > 0) {
    request = await deps.store.transaction(async (repo) => {
      const made = await repo.accessRequests.create({ namespace: snapshot.namespace, id: newRequestId(), organization: user.organization, userId: user.id, clientId, scopes: missing, justification: null, createdAt: now });
      await repo.audit.append({ action: 'accessrequest.created', actor: user.id, namespace: snapshot.namespace, organization: user.organization || null, client: clientId, subject: user.id, kind: null, name: made.id, data: { id: made.id, scopes: missing } }, now);
      // The approvers hear of it: holders of an approver role in the requester's organization, and the workspace users named.
      const approvers = approversOf(missing.flatMap((s) => gated.get(s) ?? []));
      const candidates = [...(await repo.users.list(snapshot.namespace, user.organization ? [user.organization] : [])), ...(await repo.users.list(snapshot.namespace, [''])).filter((u) => approvers.users.includes(u.id))];
      // Only those whose roles let them decide: a named user without one would be told of a request it cannot act on.
      const recipients = candidates.filter((u) => u.active && u.id !== user.id && (approvers.users.includes(u.id) || u.roles.some((r) => (approvers.roles as string[]).includes(r))) && permissionsOfRoles(u.roles, !u.organization).has('accessrequests.decide'));
      // The request's own page where each approver signs in: its organization's portal (at the shared issuer: the organization's
      // issuer path under it), or, for a workspace user, the workspace portal, which lists only the requests it decides.
      const issuer = provider.issuer.replace(/\/+$/, '');
      const organizationPortal = `${snapshot.organization || !user.organization ? issuer : `${issuer}/${user.organization}`}/portal`;
      const workspacePortal = `${deps.publicUrl().replace(/\/+$/, '')}${issuerPath(snapshot.namespace)}/portal`;
      for (const approver of new Map(recipients.map((u) => [u.id, u])).values()) {
        const link = `${approver.organization ? organizationPortal : workspacePortal}/${accessRequestPath(made.id)}`;
        await enqueue(
          repo,
          {
            namespace: snapshot.namespace,
            organization: user.organization,
            message: 'access-request-pending',
            to: approver.email,
            recipientName: approver.profile.name ?? approver.email,
            variables: { requester: user.email, client: client?.object.metadata.name ?? clientId, scopes: missing.join(' '), justification: '(none yet)', link },
          },
          now,
        );
      }
      return made;
    });
  } else {
    // A reload of the page: the request it made is already waiting.
    const wanted = new Set(asked.filter((s) => gated.has(s)));
    request = (await deps.store.accessRequests.pending(snapshot.namespace, user.id)).reverse().find((r) => r.scopes.some((s) => wanted.has(s)));
  }
  if (!request) return finish(undefined);

  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'html';
  const appName = client?.object.spec.displayName ?? client?.object.metadata.name ?? clientId;
  const list = request.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('');
  ctx.body = page(
    branding,
    'Access requested',
    `<p>${escapeHtml(appName)} asked for access that needs an approver's approval:</p><ul>${list}</ul>
<p><strong>Your request is waiting for approval.</strong> You can go on to ${escapeHtml(appName)} now without it; once it is approved, it is yours from your next sign-in.</p>
<form method="post" action="${escapeHtml(`${snapshot.path}/interaction/${uid}`)}">
<input type="hidden" name="request" value="${escapeHtml(request.id)}">
<label for="justification">Why do you need it? (optional, for the approver)</label>
<textarea id="justification" name="justification" maxlength="${JUSTIFICATION_LIMIT}" rows="4" style="width:100%;box-sizing:border-box"></textarea>
<button type="submit">Continue</button></form>
<p><small>Request ${escapeHtml(request.id)}, made ${escapeHtml(new Date(request.createdAt).toISOString().slice(0, 16).replace('T', ' '))} UTC.</small></p>`,
  );
}
