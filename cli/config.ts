/**
 * Every environment variable the `gatehouse` commands read, declared once. The Configuration
 * table of docs/configuration.md (cli/config-docs.ts), the "Environment:" part of each command's
 * --help, the Kubernetes manifests' spec and the start-up validation all come from SETTINGS.
 * Adding a variable is one row here, then `npm run gen:config`.
 */
import { z } from 'zod';
import { LOG_LEVELS } from '../server/log.ts';
import { DEFAULT_MAX_ORGANIZATIONS } from '../server/observability/metrics.ts';

export type Command = 'serve' | 'controller' | 'secret' | 'audit' | 'attest' | 'plan' | 'export' | 'notifications';

interface Setting<T> {
  /** What it does, one or two sentences (docs/configuration.md and --help). */
  description: string;
  /** The value used when the variable is unset or empty (parsed like a set value). */
  default?: string;
  /** How the default reads in the docs when it is computed rather than fixed. */
  shownDefault?: string;
  /** The commands that read it. */
  commands: readonly Command[];
  /** Commands that refuse to start without it. */
  required?: readonly Command[];
  /** Required by these commands whenever that other variable is set. */
  requiredWith?: { variable: string; commands: readonly Command[] };
  /** Never echoed: errors name the variable, not its value. */
  secret: boolean;
  /** What to do when it is missing or wrong; ends every error about it. */
  remedy?: string;
  /** Parses the raw string (`undefined` when unset and without default). */
  schema: z.ZodType<T, string | undefined>;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;

const optionalString = z.string().optional();
const httpUrl = (what: string) => z.url({ protocol: /^https?$/, error: `must be an http(s) URL such as ${what}` }).optional();
const SECRET_KEY_LENGTH = 32;
const ADMIN_TOKEN_LENGTH = 24;

export const SETTINGS = {
  PORT: setting({
    description: 'port to listen on (`--port` wins)',
    default: '8080',
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,5}$/, 'must be a port number')
      .transform(Number)
      .refine((n) => n <= 65535, 'must be a port number'),
  }),
  HOST: setting({
    description: 'address to listen on (`--host` wins); `0.0.0.0` in a container',
    default: '127.0.0.1',
    commands: ['serve'],
    secret: false,
    schema: z.string(),
  }),
  PUBLIC_URL: setting({
    description: 'external base URL of the issuers, as partners and browsers reach the server',
    shownDefault: 'http://HOST:PORT',
    commands: ['serve'],
    secret: false,
    schema: httpUrl('https://id.example.com'),
  }),
  GATEHOUSE_DATA_DIR: setting({
    description: 'where the embedded SQLite store (`gatehouse.db`, WAL mode) and, without GATEHOUSE_SECRET_KEY, the generated `secret.key` live',
    default: './data',
    commands: ['serve', 'audit', 'attest'],
    secret: false,
    schema: z.string(),
  }),
  DATABASE_URL: setting({
    description: '`postgres://…`: use PostgreSQL instead of the embedded store, for several replicas sharing state',
    commands: ['serve', 'audit', 'attest'],
    secret: true,
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  }),
  GATEHOUSE_SECRET_KEY: setting({
    description: `key that seals secrets at rest (client secrets, signing keys, upstream IdP secrets) and keys the audit chain, at least ${SECRET_KEY_LENGTH} characters; the same on every replica. Unset, a key is generated once into GATEHOUSE_DATA_DIR/secret.key. \`audit verify\` needs it to check a keyed chain`,
    shownDefault: 'generated',
    commands: ['serve', 'audit'],
    requiredWith: { variable: 'DATABASE_URL', commands: ['serve'] },
    secret: true,
    remedy: 'generate one with `openssl rand -base64 48` and keep it (losing it loses every sealed secret)',
    schema: z.string().min(SECRET_KEY_LENGTH, `is too short: use at least ${SECRET_KEY_LENGTH} random characters`).optional(),
  }),
  GATEHOUSE_ADMIN_TOKEN: setting({
    description: `admin token, at least ${ADMIN_TOKEN_LENGTH} characters. \`serve\`: the bootstrap token (unset: one is generated, printed once and kept hashed); \`controller\`, \`secret\`, \`plan\`: the token they call the server with (\`plan\` needs one allowed to write the objects: its dry runs are authorised as the writes)`,
    shownDefault: 'generated (serve)',
    commands: ['serve', 'controller', 'secret', 'plan', 'export', 'notifications'],
    required: ['controller', 'secret', 'plan', 'export', 'notifications'],
    secret: true,
    remedy: 'set GATEHOUSE_ADMIN_TOKEN to an admin token of the server (for a new server: `openssl rand -base64 32`)',
    schema: z.string().min(ADMIN_TOKEN_LENGTH, `is too short: use at least ${ADMIN_TOKEN_LENGTH} random characters (for example: openssl rand -base64 32)`).optional(),
  }),
  GATEHOUSE_TRUSTED_PROXIES: setting({
    description: "comma-separated CIDR blocks of the reverse proxies in front of the server; their X-Forwarded-For names the client for organizations' `network.allowedCidrs`. Unset, the socket's peer is the client. A block that cannot be read stops the server from starting",
    shownDefault: 'none',
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .optional()
      .transform((s) =>
        (s ?? '')
          .split(',')
          .map((cidr) => cidr.trim())
          .filter(Boolean),
      ),
  }),
  GATEHOUSE_GEOIP_DB: setting({
    description: 'path of the MaxMind-format (mmdb) country database that places client addresses for `network.allowedCountries`/`deniedCountries` and the risk rules (docs/risk.md: accuracy, refreshing it). Unset, the database shipped by `@ip-location-db/geo-whois-asn-country-mmdb`',
    shownDefault: 'the shipped database',
    commands: ['serve'],
    secret: false,
    schema: z.string().min(1).optional(),
  }),
  GATEHOUSE_SHUTDOWN_GRACE_SECONDS: setting({
    description: "on SIGTERM/SIGINT: how long in-flight requests may take to finish before their connections are closed (keep it below the orchestrator's own grace period, e.g. Kubernetes' terminationGracePeriodSeconds, 30 by default)",
    default: '20',
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,4}(\.\d+)?$/, 'must be a number of seconds')
      .transform(Number),
  }),
  GATEHOUSE_SMTP_URL: setting({
    description:
      'where notifications (invitations, password resets, contract warnings, …) are sent as email: `smtp://user:password@host:587` (STARTTLS when offered) or `smtps://…:465`; `?tls=insecure` accepts a self-signed certificate. Unset, messages are held: readable through the admin API and `gatehouse notifications list`, their link printed on the console (docs/notifications.md)',
    shownDefault: 'none (messages held)',
    commands: ['serve'],
    secret: true,
    schema: z
      .string()
      .regex(/^smtps?:\/\/[^/\s]+/, 'must be an smtp:// or smtps:// URL such as smtp://user:password@mail.example.com:587')
      .optional(),
  }),
  GATEHOUSE_MAIL_FROM: setting({
    description: 'the sender of notification emails, as `Name <address>` or an address',
    default: 'Gatehouse <gatehouse@localhost>',
    commands: ['serve'],
    secret: false,
    schema: z.string().min(3).max(320),
  }),
  GATEHOUSE_NOTIFICATION_LEASE_SECONDS: setting({
    description: "how long a replica holds the notifications it is sending; a replica that dies mid-send leaves them to another after this (longer than an SMTP exchange's timeouts, 40 s)",
    default: '60',
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,5}$/, 'must be a whole number of seconds')
      .transform(Number)
      .refine((n) => n >= 1, 'must be at least 1 second'),
  }),
  GATEHOUSE_MAX_PROVIDERS: setting({
    description:
      'how many issuers keep their oidc-provider instance live at once (~65 KiB each); beyond it the least recently used one is dropped and built again (~0.6 ms) when a sign-in needs it. Machine tokens, discovery and JWKS need none. Raise it when more organizations than this sign users in within minutes of each other',
    default: '1000',
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,7}$/, 'must be a whole number')
      .transform(Number)
      .refine((n) => n >= 1, 'must be at least 1'),
  }),
  GATEHOUSE_ENDPOINT: setting({
    description: "the server's base URL (`--endpoint` wins)",
    commands: ['controller', 'secret', 'plan', 'export', 'notifications'],
    secret: false,
    schema: httpUrl('http://gatehouse:8080'),
  }),
  GATEHOUSE_DRIFT: setting({
    description: "what the controller does when an object on the server differs from its declaration because someone changed it there: `correct` puts the declaration back (audited, with reason `drift`); `report` leaves it, sets the object's `Drifted` condition and logs it, for a person to decide (`--drift` wins)",
    default: 'correct',
    commands: ['controller'],
    secret: false,
    schema: z.enum(['correct', 'report'], { error: 'must be correct or report' }),
  }),
  POD_NAME: setting({
    description: 'identity in the leader-election Lease (Kubernetes mode; set from the downward API)',
    shownDefault: 'the host name',
    commands: ['controller'],
    secret: false,
    schema: optionalString,
  }),
  POD_NAMESPACE: setting({
    description: 'namespace of the leader-election Lease (Kubernetes mode; set from the downward API)',
    shownDefault: '`--namespace`, else gatehouse-system',
    commands: ['controller'],
    secret: false,
    schema: optionalString,
  }),
  KUBECONFIG: setting({
    description: 'kubeconfig of the cluster to watch (Kubernetes mode; read by @kubernetes/client-node). In a pod, the service account is used',
    shownDefault: '~/.kube/config, else in-cluster',
    commands: ['controller'],
    secret: false,
    schema: optionalString,
  }),
  LOG_LEVEL: setting({
    description: 'JSON log level: fatal, error, warn, info, debug, trace or silent (successful token, introspection, discovery and JWKS requests are logged at debug)',
    default: 'info',
    commands: ['serve', 'controller'],
    secret: false,
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
  }),
  GATEHOUSE_METRICS_PORT: setting({
    description: 'serve Prometheus `/metrics` on this port, never on the public one (unset: not served)',
    shownDefault: 'not served',
    commands: ['serve', 'controller'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,5}$/, 'must be a port number')
      .transform(Number)
      .refine((n) => n <= 65535, 'must be a port number')
      .optional(),
  }),
  GATEHOUSE_METRICS_HOST: setting({
    description: 'address of the metrics listener',
    shownDefault: 'HOST, else 127.0.0.1',
    commands: ['serve', 'controller'],
    secret: false,
    schema: optionalString,
  }),
  GATEHOUSE_METRICS_TOKEN: setting({
    description: 'bearer token `/metrics` requires, at least 16 characters (unset: none; the metrics port is the boundary)',
    commands: ['serve', 'controller'],
    secret: true,
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
  }),
  GATEHOUSE_METRICS_MAX_ORGANIZATIONS: setting({
    description: 'distinct namespace/organization label pairs before the rest are counted as `_other`',
    default: String(DEFAULT_MAX_ORGANIZATIONS),
    commands: ['serve'],
    secret: false,
    schema: z
      .string()
      .regex(/^\d{1,6}$/, 'must be a whole number')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 100_000, 'must be between 1 and 100000'),
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting({
    description: 'OTLP/HTTP collector base URL; tracing is off (and the OpenTelemetry SDK never loaded) unless set',
    commands: ['serve'],
    secret: false,
    schema: httpUrl('http://otel-collector:4318'),
  }),
  OTEL_SERVICE_NAME: setting({
    description: 'service name on spans',
    default: 'gatehouse',
    commands: ['serve'],
    secret: false,
    schema: z.string().min(1),
  }),
};

export type Name = keyof typeof SETTINGS;
type ValueOf<N extends Name> = (typeof SETTINGS)[N] extends Setting<infer T> ? T : never;
export type Config = { [N in Name]: ValueOf<N> };
/** The names `command` reads, as a type (from each row's `commands`). */
export type NamesOf<C extends Command> = { [N in Name]: C extends (typeof SETTINGS)[N]['commands'][number] ? N : never }[Name];

const NAMES = Object.keys(SETTINGS) as Name[];

/** The variables `command` reads, in declaration order. */
export function namesOf(command: Command): Name[] {
  return NAMES.filter((n) => SETTINGS[n].commands.includes(command));
}

/** A configuration that cannot start; the message names every variable at fault and what to do, never a secret's value. */
export class ConfigError extends Error {
  readonly problems: { variable: Name; message: string }[];
  constructor(problems: { variable: Name; message: string }[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const unset = (v: string | undefined): v is undefined => v === undefined || v === '';

/**
 * The variables `command` reads, validated and typed, defaults applied. Unset and empty are the
 * same. Throws ConfigError naming each bad variable (all at once, so one restart fixes them).
 */
export function readConfig<C extends Command>(command: C, env: Readonly<Record<string, string | undefined>>): Pick<Config, NamesOf<C>> {
  const out: Record<string, unknown> = {};
  const problems: { variable: Name; message: string }[] = [];
  for (const name of namesOf(command)) {
    const row: Setting<unknown> = SETTINGS[name];
    const raw = unset(env[name]) ? row.default : env[name];
    const remedy = row.remedy ? `: ${row.remedy}` : '';
    const requiredBy = row.required?.includes(command) ? true : row.requiredWith?.commands.includes(command) && !unset(env[row.requiredWith.variable]) ? row.requiredWith.variable : undefined;
    if (raw === undefined && requiredBy) {
      problems.push({ variable: name, message: `${name} is not set${requiredBy === true ? '' : ` (it is required with ${requiredBy})`}${remedy}` });
      continue;
    }
    const parsed = row.schema.safeParse(raw);
    if (parsed.success) {
      out[name] = parsed.data;
    } else {
      const why = parsed.error.issues[0]?.message ?? 'is not valid';
      const shown = row.secret || raw === undefined ? '' : `, got "${raw}"`;
      problems.push({ variable: name, message: `${name} ${why}${shown}${row.remedy ? `; ${row.remedy}` : ''}` });
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out as Pick<Config, NamesOf<C>>;
}

function defaultText(row: Setting<unknown>): string {
  return row.shownDefault ?? row.default ?? '—';
}

/** The "Environment:" block of `command`'s --help. */
export function environmentHelp(command: Command): string {
  const rows = namesOf(command).map((name) => {
    const row: Setting<unknown> = SETTINGS[name];
    const notes = [row.required?.includes(command) ? 'required' : row.requiredWith?.commands.includes(command) ? `required with ${row.requiredWith.variable}` : row.default || row.shownDefault ? `default: ${defaultText(row).replace(/`/g, '')}` : 'optional'];
    if (row.secret) notes.push('secret');
    return { name, text: `${row.description.replace(/`/g, '')} (${notes.join('; ')})` };
  });
  const width = Math.max(...rows.map((r) => r.name.length)) + 2;
  const wrap = (text: string) => {
    const lines: string[] = [];
    let line = '';
    for (const word of text.split(' ')) {
      if (line && line.length + word.length + 1 > 96 - width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    return [...lines, line];
  };
  return ['Environment:', ...rows.flatMap((r) => wrap(r.text).map((l, i) => `  ${(i === 0 ? r.name : '').padEnd(width)}${l}`))].join('\n');
}

/** The Configuration table of docs/configuration.md. */
export function configurationTable(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = ['| variable | default | read by | secret | meaning |', '|---|---|---|---|---|'];
  for (const name of NAMES) {
    const row: Setting<unknown> = SETTINGS[name];
    const def = [row.default ? `\`${row.default}\`` : defaultText(row)];
    if (row.required?.length) def.push(`required by ${row.required.join(', ')}`);
    if (row.requiredWith) def.push(`required with \`${row.requiredWith.variable}\` (${row.requiredWith.commands.join(', ')})`);
    lines.push(`| \`${name}\` | ${cell(def.join('; '))} | ${row.commands.join(', ')} | ${row.secret ? 'yes' : ''} | ${cell(row.description)}${row.remedy ? `. ${cell(row.remedy.charAt(0).toUpperCase() + row.remedy.slice(1))}` : ''} |`);
  }
  return lines.join('\n');
}
