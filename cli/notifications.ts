import { parseArgs } from 'node:util';
import { AdminClient } from '../client/admin-client.ts';
import { environmentHelp, readConfig } from './config.ts';

export const NOTIFICATIONS_USAGE = `gatehouse notifications list --namespace NS [--organization ORG] [--state STATE] [--limit N] [--json] [--endpoint URL]

Lists the notification outbox of a namespace, newest first: each message (invitation, password
reset, contract ending, …), its recipient, its state (pending, sent, held, failed, expired) and, while it
is unused, its link. Without GATEHOUSE_SMTP_URL on the server, messages are held: this is how a
person gets an invitation's link to whoever it is for.

  --namespace NS        the workspace's namespace
  --organization ORG    only this organization's messages
  --state STATE         pending, sent, held, failed or expired
  --limit N             at most N messages (default 100)
  --json                one JSON object per line instead of the table
  --endpoint URL        the server's base URL (or GATEHOUSE_ENDPOINT)

${environmentHelp('notifications')}`;

type Out = (line: string) => void;

interface Listed {
  id: string;
  organization: string | null;
  message: string;
  to: string;
  state: string;
  createdAt: string;
  subject?: string;
  link?: string;
  lastError?: string | null;
}

/** `gatehouse notifications list`; resolves to the exit code. */
export async function notifications(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`), err: Out = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { namespace: { type: 'string' }, organization: { type: 'string' }, state: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, endpoint: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  } catch (error) {
    err(`gatehouse notifications: ${(error as Error).message}\n\n${NOTIFICATIONS_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(NOTIFICATIONS_USAGE);
    return 0;
  }
  if (positionals[0] !== 'list' || !values.namespace) {
    err(`gatehouse notifications: ${positionals[0] !== 'list' ? 'the subcommand is list' : 'give the namespace with --namespace NS'}\n\n${NOTIFICATIONS_USAGE}`);
    return 2;
  }
  let config;
  try {
    config = readConfig('notifications', { ...env, ...(values.endpoint !== undefined ? { GATEHOUSE_ENDPOINT: values.endpoint } : {}) });
  } catch (error) {
    err(`gatehouse notifications: ${(error as Error).message}`);
    return 2;
  }
  if (!config.GATEHOUSE_ENDPOINT) {
    err('gatehouse notifications: give the server with --endpoint URL (or GATEHOUSE_ENDPOINT)');
    return 2;
  }
  const client = new AdminClient({ endpoint: config.GATEHOUSE_ENDPOINT, token: config.GATEHOUSE_ADMIN_TOKEN! });
  const query = new URLSearchParams();
  for (const key of ['organization', 'state', 'limit'] as const) if (values[key] !== undefined) query.set(key, values[key]);
  try {
    const answer = (await client.request('GET', `/admin/v1/namespaces/${encodeURIComponent(values.namespace)}/notifications${query.size ? `?${query}` : ''}`)) as { items: Listed[] };
    if (values.json) {
      for (const item of answer.items) out(JSON.stringify(item));
      return 0;
    }
    if (!answer.items.length) {
      out('no notifications');
      return 0;
    }
    for (const n of answer.items) {
      out(`${n.createdAt}  ${n.state.padEnd(7)}  ${n.message.padEnd(22)}  ${n.organization ?? '(workspace)'}  ${n.to}`);
      if (n.subject) out(`    ${n.subject}`);
      if (n.link) out(`    ${n.link}`);
      if (n.lastError) out(`    last error: ${n.lastError}`);
    }
    return 0;
  } catch (error) {
    err(`gatehouse notifications: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
