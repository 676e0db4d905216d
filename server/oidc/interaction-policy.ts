import { interactionPolicy } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { approvalScopes, scopesToRequest } from './approval.ts';
import type { IssuerSnapshot } from './snapshot.ts';
import { mfaLevel, reaches } from './step-up.ts';

/**
 * oidc-provider's default prompts, plus one login check: a session that signed in without a
 * second factor is sent through sign-in again (and so through the step-up) when this
 * request asks for something that needs one. Without it, a session opened for a plain
 * scope would carry a step-up scope asked later without ever seeing the TOTP page.
 */
export function interactionPolicyFor(snapshot: IssuerSnapshot, findUser: (sub: string) => Promise<UserRecord | undefined>, context: { store: Store; clock: Clock }, sessionOver: (accountId: string, loginTs: number | undefined) => boolean): interactionPolicy.Prompt[] {
  const policy = interactionPolicy.base();
  const { Check, Prompt } = interactionPolicy;
  // A session used within its idle timeout is kept (ttl.Session), but never past its declared lifetime.
  policy.get('login')!.checks.add(
    new Check('session_lifetime', 'the sign-in session has reached its lifetime', (ctx) => {
      const { oidc } = ctx;
      const accountId = oidc.session?.accountId;
      if (!accountId || oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      return sessionOver(accountId, oidc.session?.loginTs) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // After sign-in, before consent: a scope asked for that needs an approval the user neither
  // holds nor already waits for shows the access-request page (interactions.ts), once.
  policy.add(
    new Prompt(
      { name: 'approval', requestable: false },
      new Check('access_request', "a scope requested needs an approver's approval", async (ctx) => {
        const { oidc } = ctx;
        const accountId = oidc.session?.accountId;
        if (!accountId || !oidc.client || (oidc.result as { approval?: unknown } | undefined)?.approval) return Check.NO_NEED_TO_PROMPT;
        // A silent authorization (prompt=none) is never failed for it: it goes on without the scope and asks nothing.
        if (oidc.prompts.has('none')) return Check.NO_NEED_TO_PROMPT;
        const user = await findUser(accountId);
        if (!user) return Check.NO_NEED_TO_PROMPT;
        const client = snapshot.clients.find((c) => c.clientId === oidc.client!.clientId);
        const gated = approvalScopes(snapshot, snapshot.organization ?? (user.organization || undefined), client);
        if (gated.size === 0) return Check.NO_NEED_TO_PROMPT;
        const asked = typeof oidc.params?.scope === 'string' ? oidc.params.scope.split(' ') : [];
        return (await scopesToRequest(context.store, snapshot.namespace, user.id, gated, asked, context.clock.now())).length > 0 ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    ),
    1,
  );
  policy.get('login')!.checks.add(
    new Check('mfa_step_up', 'a second factor is required for the scopes requested', async (ctx) => {
      const { oidc } = ctx;
      const accountId = oidc.session?.accountId;
      // A login finished in this very interaction was already decided by the broker.
      if (!accountId || oidc.result?.login || !oidc.client) return Check.NO_NEED_TO_PROMPT;
      const user = await findUser(accountId);
      if (!user) return Check.NO_NEED_TO_PROMPT; // the no_session / account checks deal with it
      const scope = typeof oidc.params?.scope === 'string' ? oidc.params.scope : '';
      // A session opened with TOTP does not reach a phishing-resistant requirement: the user signs in again with a passkey.
      const level = mfaLevel(snapshot, user, oidc.client.clientId, scope);
      return reaches(snapshot, user, level, { acr: oidc.session?.acr, amr: oidc.session?.amr }) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}
