import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminApiError, AdminClient } from '../client/admin-client.ts';
import { computePlan, type Plan, type PlanFieldChange, type PlannedObject } from '../controller/plan.ts';
import { DirectorySource } from '../controller/sources/directory.ts';
import { environmentHelp, readConfig } from './config.ts';

export const PLAN_USAGE = `gatehouse plan --dir PATH [--endpoint URL] [--owner NAME] [--format text|md|json]

Shows what applying the declarations under PATH would change on the server, and changes
nothing: per object create / update (field by field) / delete / unchanged, then the
consequences an auditor asks about: tokens that will be revoked, scopes gained or lost per
organization, claims added or removed, scopes that will need approval. Each create and update
is checked by the server's own admission (a dry run), so a declaration it would refuse shows
as an error here. Secret values are never shown.

  --dir PATH       the folder of YAML declarations, read as \`gatehouse controller --dir\` reads it
  --endpoint URL   the server's base URL (or GATEHOUSE_ENDPOINT)
  --owner NAME     the --owner of the controller that applies PATH, when that controller runs
                   from another path (default: directory:<absolute PATH>, its default); only
                   objects it created are planned for deletion
  --format FORMAT  text (default), md (a pull-request comment) or json (for tools; the
                   schema is documented in docs/controller.md)

Exit status: 0 nothing would change, 2 something would change, 1 an error (a declaration the
schema or the server refuses, or the server could not be asked).

${environmentHelp('plan')}`;

type Out = (text: string) => void;

const FORMATS = ['text', 'md', 'json'] as const;

/** `gatehouse plan …`; resolves to the exit code: 0 no changes, 2 changes, 1 error. The plan goes to stdout, progress and errors to stderr. */
export async function plan(argv: string[], env: NodeJS.ProcessEnv, stdout: Out, stderr: Out): Promise<number> {
  const err = (line: string) => stderr(`${line}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { dir: { type: 'string' }, endpoint: { type: 'string' }, owner: { type: 'string' }, format: { type: 'string', default: 'text' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (error) {
    err(`gatehouse plan: ${(error as Error).message}\n\n${PLAN_USAGE}`);
    return 1;
  }
  if (values.help) {
    stdout(`${PLAN_USAGE}\n`);
    return 0;
  }
  const fail = (message: string) => {
    err(`gatehouse plan: ${message}`);
    return 1;
  };
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) return fail(`--format must be one of ${FORMATS.join(', ')}, got "${values.format}"`);
  if (!values.dir) return fail('give the declarations with --dir PATH (the folder the controller applies)');
  let config;
  try {
    config = readConfig('plan', { ...env, ...(values.endpoint !== undefined ? { GATEHOUSE_ENDPOINT: values.endpoint } : {}) });
  } catch (error) {
    return fail((error as Error).message);
  }
  const endpoint = config.GATEHOUSE_ENDPOINT;
  if (!endpoint) return fail('give the server with --endpoint URL (or GATEHOUSE_ENDPOINT)');
  const dir = resolve(values.dir);
  const source = new DirectorySource({ dir });
  const owner = values.owner ?? `directory:${source.dir}`;
  let result: Plan;
  try {
    err(`plan: reading the declarations under ${dir}`);
    const state = await source.read();
    err(`plan: comparing ${state.objects.length} objects with ${endpoint} (dry run; nothing is written)`);
    result = await computePlan(state, { client: new AdminClient({ endpoint, token: config.GATEHOUSE_ADMIN_TOKEN!, attempts: 3 }), owner, endpoint, dir });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const cause = error instanceof AdminApiError ? error : error instanceof Error && error.cause instanceof AdminApiError ? error.cause : undefined;
    const hint =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? `; check that --dir ${values.dir} is the folder of declarations`
        : cause?.status === 401
          ? '; set GATEHOUSE_ADMIN_TOKEN to an admin token of this server'
          : cause?.status === 403
            ? '; the plan needs a token allowed to write these objects (a dry run is authorised as the write itself)'
            : cause?.transient
              ? `; check that ${endpoint} is the Gatehouse server and that it is up, then plan again`
              : '';
    return fail(`${message}${hint}`);
  }
  stdout(format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : format === 'md' ? markdown(result) : text(result));
  const code = result.summary.error > 0 ? 1 : result.changed ? 2 : 0;
  err(code === 1 ? 'plan: fix the errors above (each names its file and field), then plan again' : code === 2 ? 'plan: merging applies these changes; the controller reconciles them on its next pass' : 'plan: no changes; the server matches the declarations');
  return code;
}

const SIGN = { create: '+', update: '~', delete: '-', unchanged: '=', error: '!' } as const;

function value(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

function changeLine(c: PlanFieldChange): string {
  if (c.secret) return `${c.path}: (changed)`;
  if (c.before === undefined) return `${c.path}: ${value(c.after)}`;
  if (c.after === undefined) return `${c.path}: ${value(c.before)} → (removed)`;
  return `${c.path}: ${value(c.before)} → ${value(c.after)}`;
}

const label = (o: PlannedObject) => `${o.kind} ${o.namespace}/${o.name}`;
const fileOf = (o: { file?: string; document?: number }) => (o.file ? `${o.file}${o.document && o.document > 1 ? ` (document ${o.document})` : ''}` : '');
const at = (c: { namespace: string; organization: string; client?: string }) => `${c.namespace}/${c.organization}${c.client ? ` (client ${c.client})` : ''}`;

function summaryLine(p: Plan): string {
  const s = p.summary;
  return `${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged${s.error ? `, ${s.error} error${s.error === 1 ? '' : 's'}` : ''}`;
}

function consequenceLines(p: Plan): { title: string; lines: string[] }[] {
  const c = p.consequences;
  return [
    { title: 'Tokens revoked', lines: c.tokensRevoked.map((t) => t.message) },
    { title: 'Scopes per organization', lines: c.scopes.map((s) => `${at(s)}: ${[...s.gained.map((x) => `+ ${x}`), ...s.lost.map((x) => `- ${x}`)].join(', ')}`) },
    { title: 'Claims', lines: c.claims.map((s) => `${at(s)}: ${[...s.added.map((x) => `+ ${x}`), ...s.removed.map((x) => `- ${x}`)].join(', ')}`) },
    { title: 'Approvals needed', lines: c.approvals.map((a) => `${at(a)}: ${a.scope} is granted only once a person approves it`) },
  ].filter((s) => s.lines.length > 0);
}

function text(p: Plan): string {
  const out = [`Plan for ${p.dir} against ${p.endpoint} (owner ${p.owner})`, ''];
  for (const o of p.objects) {
    out.push(`${SIGN[o.action]} ${o.action.padEnd(9)} ${label(o)}${o.file ? `  (${fileOf(o)})` : ''}`);
    for (const c of o.changes) out.push(`      ${changeLine(c)}`);
    if (o.error) out.push(`      ${o.error.message}`);
  }
  for (const problem of p.problems) out.push(`! ${problem.label}${problem.file ? ` (${fileOf(problem)})` : ''}: ${problem.message}`);
  for (const section of consequenceLines(p)) out.push('', `${section.title}:`, ...section.lines.map((l) => `  - ${l}`));
  out.push('', `Plan: ${summaryLine(p)}.`);
  return `${out.join('\n')}\n`;
}

/** A fenced block no value can close early. */
function fenced(lines: string[], info = ''): string[] {
  const longest = Math.max(2, ...lines.map((l) => Math.max(0, ...[...l.matchAll(/`+/g)].map((m) => m[0].length))));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${info}`, ...lines, fence];
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/[<>]/g, (c) => (c === '<' ? '&lt;' : '&gt;'));

function markdown(p: Plan): string {
  const out = [`### Gatehouse plan: ${summaryLine(p)}`, ''];
  const shown = p.objects.filter((o) => o.action !== 'unchanged');
  if (shown.length > 0) {
    out.push('| change | object | declared in |', '|---|---|---|');
    for (const o of shown) out.push(`| ${SIGN[o.action]} ${o.action} | \`${label(o)}\` | ${o.file ? `\`${cell(fileOf(o))}\`` : ''} |`);
    out.push('');
  } else {
    out.push('No changes: the server matches the declarations.', '');
  }
  const errors = [...shown.filter((o) => o.error).map((o) => `${label(o)}: ${o.error!.message}`), ...p.problems.map((x) => `${x.label}${x.file ? ` (${fileOf(x)})` : ''}: ${x.message}`)];
  if (errors.length) out.push('#### Errors', '', ...fenced(errors), '');
  for (const section of consequenceLines(p)) out.push(`#### ${section.title}`, '', ...section.lines.map((l) => `- ${cell(l)}`), '');
  const diffs = shown.filter((o) => o.changes.length > 0).flatMap((o) => [`${SIGN[o.action]} ${label(o)}`, ...o.changes.map((c) => `    ${changeLine(c)}`)]);
  if (diffs.length) out.push('<details><summary>Field changes</summary>', '', ...fenced(diffs, 'diff'), '', '</details>', '');
  out.push(`<sub>${p.summary.unchanged} unchanged · owner \`${cell(p.owner)}\` · ${cell(p.endpoint)}</sub>`);
  return `${out.join('\n')}\n`;
}
