import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { dnsLabel } from '../api/index.ts';
import { matchesFingerprint } from '../client/secret-fingerprint.ts';
import { AdminApiError, AdminClient } from '../client/admin-client.ts';
import { environmentHelp, readConfig } from './config.ts';

export const SECRET_USAGE = `gatehouse secret set NAMESPACE/NAME (--from-file [KEY=]PATH | --from-env [KEY=]VAR)... [--endpoint URL]
gatehouse secret show NAMESPACE/NAME [--endpoint URL]
gatehouse secret delete NAMESPACE/NAME [--endpoint URL]

Supplies the secrets IdPConnections reference (spec.oidc.clientSecretRef: {name, key}) to the
server's write-only secret store, for folder-of-YAML (directory) mode; in Kubernetes the
controller copies them from Secrets instead. Values are never printed.

  set       store the secret NAME with one key per --from-file/--from-env (KEY defaults to
            "client-secret"). Replaces the whole secret: give every key it should hold.
            Nothing is written when the server already holds exactly this data.
  show      key names, last update and fingerprint (never values)
  delete    remove it; connections referencing it stop signing in until it is set again

  --from-file [KEY=]PATH   the value is the file's content (one trailing newline removed)
  --from-env [KEY=]VAR     the value is the environment variable VAR
  --endpoint URL           the server's base URL (or GATEHOUSE_ENDPOINT)

${environmentHelp('secret')}`;

type Out = (line: string) => void;

const DEFAULT_KEY = 'client-secret';
const KEY = /^[A-Za-z0-9._-]{1,253}$/;

/** `gatehouse secret …`; resolves to the exit code. Errors name the secret (and the file or variable), never a value. */
export async function secret(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`), err: Out = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      'from-file': { type: 'string', multiple: true },
      'from-env': { type: 'string', multiple: true },
      endpoint: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    out(SECRET_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'set' && sub !== 'show' && sub !== 'delete') {
    err(`gatehouse secret: unknown subcommand "${sub}"\n\n${SECRET_USAGE}`);
    return 2;
  }
  const fail = (message: string, code = 1) => {
    err(`gatehouse secret ${sub}: ${message}`);
    return code;
  };
  if (positionals.length !== 1) return fail(`give one secret as NAMESPACE/NAME (got ${positionals.length})`, 2);
  const target = positionals[0]!;
  const [namespace, name, ...extra] = target.split('/');
  if (extra.length > 0 || !namespace || !name || !dnsLabel.safeParse(namespace).success || !dnsLabel.safeParse(name).success) {
    return fail(`"${target}" is not NAMESPACE/NAME (two DNS labels, such as blixit-partners/forge-oidc)`, 2);
  }
  const id = `${namespace}/${name}`;
  const sources = [...(values['from-file'] ?? []).map((s) => ({ kind: 'file' as const, spec: s })), ...(values['from-env'] ?? []).map((s) => ({ kind: 'env' as const, spec: s }))];
  if (sub !== 'set' && sources.length > 0) return fail('--from-file and --from-env are for "set" only', 2);
  if (sub === 'set' && sources.length === 0) return fail(`secret ${id}: give the value with --from-file [KEY=]PATH or --from-env [KEY=]VAR`, 2);
  let config;
  try {
    config = readConfig('secret', { ...env, ...(values.endpoint !== undefined ? { GATEHOUSE_ENDPOINT: values.endpoint } : {}) });
  } catch (error) {
    return fail((error as Error).message, 2);
  }
  const endpoint = config.GATEHOUSE_ENDPOINT;
  if (!endpoint) return fail('give the server with --endpoint URL (or GATEHOUSE_ENDPOINT)', 2);
  const token = config.GATEHOUSE_ADMIN_TOKEN!;
  const client = new AdminClient({ endpoint, token });

  try {
    if (sub === 'show') {
      const found = await client.describeSecret(namespace, name);
      if (!found) return fail(`secret ${id} does not exist in ${endpoint}`);
      out(`secret ${id}: keys ${found.keys.map((k) => `"${k}"`).join(', ')}; updated ${found.updatedAt}${found.fingerprint ? `; fingerprint ${found.fingerprint}` : ''}`);
      return 0;
    }
    if (sub === 'delete') {
      try {
        await client.request('DELETE', `/admin/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
      } catch (error) {
        if (error instanceof AdminApiError && error.status === 404) return fail(`secret ${id} does not exist in ${endpoint}`);
        throw error;
      }
      out(`secret ${id} deleted`);
      return 0;
    }

    const data: Record<string, string> = {};
    for (const source of sources) {
      const eq = source.spec.indexOf('=');
      const key = eq > 0 ? source.spec.slice(0, eq) : DEFAULT_KEY;
      const from = eq > 0 ? source.spec.slice(eq + 1) : source.spec;
      const flag = `--from-${source.kind} ${source.spec}`;
      if (!KEY.test(key)) return fail(`secret ${id}: key "${key}" in ${flag} must be letters, digits, ".", "_" or "-"`, 2);
      if (key in data) return fail(`secret ${id}: key "${key}" is given twice`, 2);
      let value: string | undefined;
      if (source.kind === 'env') {
        value = env[from];
        if (value === undefined) return fail(`secret ${id}: environment variable ${from} (${flag}) is not set`);
      } else {
        try {
          value = (await readFile(from, 'utf8')).replace(/\r?\n$/, '');
        } catch (error) {
          return fail(`secret ${id}: cannot read ${from} (${flag}): ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
        }
      }
      if (value.length === 0) return fail(`secret ${id}: key "${key}" would be empty (${flag})`);
      data[key] = value;
    }
    const keys = Object.keys(data)
      .sort()
      .map((k) => `"${k}"`)
      .join(', ');
    const current = await client.describeSecret(namespace, name);
    if (current?.fingerprint && (await matchesFingerprint(current.fingerprint, data))) {
      out(`secret ${id} unchanged: the server already holds this data for keys ${keys}; nothing written`);
      return 0;
    }
    await client.putSecret(namespace, name, data);
    const dropped = (current?.keys ?? []).filter((k) => !(k in data));
    out(`secret ${id} ${current ? 'updated' : 'created'}: keys ${keys}${dropped.length ? `; removed keys ${dropped.map((k) => `"${k}"`).join(', ')}` : ''}`);
    return 0;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return fail(detail.includes(id) ? detail : `secret ${id}: ${detail}`);
  }
}
