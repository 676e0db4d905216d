/**
 * `helm template` for the subset of Go templates our chart uses, because neither Helm nor a
 * JavaScript renderer of charts can be installed on these machines (Helm is not in Debian's
 * packages; no npm package renders charts without downloading the binary).
 *
 * Supported, with Go/Helm semantics: `{{ pipeline }}`, trim markers `{{-`/`-}}`, comments,
 * `.Values/.Release/.Chart` fields, `$` and `$var`, string/number/bool literals, parentheses,
 * `|` pipes; `define`, `include`; `if`/`else`/`end`, `with`/`else`/`end`, `range` (lists, and
 * maps in sorted key order, with `$k, $v :=`); functions `toYaml nindent indent quote default
 * required dict not`. Anything else throws, so the chart cannot drift out of the subset
 * silently. Truthiness as Go's: false, 0, nil, "" and empty lists or maps are false.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';

type Value = unknown;
type Node = { t: 'text'; text: string } | { t: 'out'; pipe: Pipe } | { t: 'if' | 'with'; pipe: Pipe; then: Node[]; else: Node[] } | { t: 'range'; pipe: Pipe; vars: string[]; body: Node[]; else: Node[] };
type Operand = { t: 'lit'; v: Value } | { t: 'field'; base: '.' | string; path: string[] } | { t: 'sub'; pipe: Pipe } | { t: 'fn'; name: string };
type Command = Operand[];
type Pipe = Command[];

interface Scope {
  dot: Value;
  vars: Record<string, Value>;
}

const TOKEN = /"(?:[^"\\]|\\.)*"|\(|\)|\||:=|,|-?\d+(?:\.\d+)?(?![\w.])|\$?[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*|\$(?:\.[A-Za-z_]\w*)*|\.(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?/y;

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < src.length) {
    if (/\s/.test(src[i]!)) {
      i++;
      continue;
    }
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`helm subset: cannot read "${src.slice(i)}" in {{ ${src} }}`);
    tokens.push(m[0]);
    i = TOKEN.lastIndex;
  }
  return tokens;
}

function parsePipe(tokens: string[], pos = { i: 0 }, closing?: string): Pipe {
  const pipe: Pipe = [];
  let command: Command = [];
  while (pos.i < tokens.length) {
    const tok = tokens[pos.i++]!;
    if (tok === closing) break;
    if (tok === '|') {
      pipe.push(command);
      command = [];
    } else if (tok === '(') {
      command.push({ t: 'sub', pipe: parsePipe(tokens, pos, ')') });
    } else if (tok.startsWith('"')) {
      command.push({ t: 'lit', v: JSON.parse(tok) });
    } else if (/^-?\d/.test(tok)) {
      command.push({ t: 'lit', v: Number(tok) });
    } else if (tok === 'true' || tok === 'false') {
      command.push({ t: 'lit', v: tok === 'true' });
    } else if (tok.startsWith('.')) {
      command.push({ t: 'field', base: '.', path: tok.split('.').filter(Boolean) });
    } else if (tok.startsWith('$')) {
      const [base, ...path] = tok.split('.');
      command.push({ t: 'field', base: base!, path });
    } else if (FUNCTIONS.has(tok) && command.length === 0) {
      command.push({ t: 'fn', name: tok });
    } else {
      throw new Error(`helm subset: "${tok}" is not supported`);
    }
  }
  pipe.push(command);
  if (pipe.some((c) => c.length === 0)) throw new Error(`helm subset: empty command in {{ ${tokens.join(' ')} }}`);
  return pipe;
}

const FUNCTIONS = new Set(['toYaml', 'nindent', 'indent', 'quote', 'default', 'required', 'dict', 'not', 'include']);

/** Splits a template into text and actions, applying the trim markers. */
function lex(src: string): ({ text: string } | { action: string })[] {
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? undefined : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      parts.push({ text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error('helm subset: unclosed {{');
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-') && /\s/.test(inner[1] ?? '')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    trimNext = false;
    if (inner.endsWith('-') && /\s/.test(inner.at(-2) ?? '')) {
      trimNext = true;
      inner = inner.slice(0, -1);
    }
    parts.push({ text });
    inner = inner.trim();
    if (!(inner.startsWith('/*') && inner.endsWith('*/'))) parts.push({ action: inner });
    i = close + 2;
  }
  return parts;
}

function parseTemplate(src: string, defines: Map<string, Node[]>): Node[] {
  const parts = lex(src);
  let k = 0;
  const block = (stops: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (k < parts.length) {
      const part = parts[k++]!;
      if ('text' in part) {
        if (part.text) nodes.push({ t: 'text', text: part.text });
        continue;
      }
      const [word, ...rest] = part.action.split(/\s+/);
      const args = part.action.slice(word!.length).trim();
      if (stops.includes(part.action)) return { nodes, stop: part.action };
      if (word === 'define') {
        const name = JSON.parse(args) as string;
        defines.set(name, block(['end']).nodes);
      } else if (word === 'if' || word === 'with') {
        const then = block(['else', 'end']);
        const otherwise = then.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ t: word, pipe: parsePipe(tokenize(args)), then: then.nodes, else: otherwise });
      } else if (word === 'range') {
        const decl = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.*)$/.exec(args);
        const vars = decl ? [decl[1]!, decl[2]].filter((v): v is string => !!v) : [];
        const body = block(['else', 'end']);
        const otherwise = body.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ t: 'range', pipe: parsePipe(tokenize(decl ? decl[3]! : args)), vars, body: body.nodes, else: otherwise });
      } else if (['else', 'end', 'template', 'block', 'tpl'].includes(word!) || rest[0] === ':=') {
        throw new Error(`helm subset: {{ ${part.action} }} is not supported here`);
      } else {
        nodes.push({ t: 'out', pipe: parsePipe(tokenize(part.action)) });
      }
    }
    if (stops.length) throw new Error(`helm subset: missing {{ end }}`);
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

export function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function printable(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') throw new Error('helm subset: printing a list or map needs toYaml');
  return String(v);
}

const indentLines = (n: number, s: string) =>
  s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

class Renderer {
  readonly defines = new Map<string, Node[]>();
  private readonly root: Value;
  constructor(root: Value) {
    this.root = root;
  }

  private call(name: string, args: Value[]): Value {
    switch (name) {
      case 'toYaml':
        return args[0] === undefined || args[0] === null ? 'null' : stringify(args[0]).replace(/\n$/, '');
      case 'nindent':
        return `\n${indentLines(Number(args[0]), printable(args[1]))}`;
      case 'indent':
        return indentLines(Number(args[0]), printable(args[1]));
      case 'quote':
        return JSON.stringify(printable(args[0]));
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'required':
        if (args[1] === undefined || args[1] === null || args[1] === '') throw new Error(`execution error: ${String(args[0])}`);
        return args[1];
      case 'dict': {
        const out: Record<string, Value> = {};
        for (let i = 0; i < args.length; i += 2) out[String(args[i])] = args[i + 1];
        return out;
      }
      case 'not':
        return !truthy(args[0]);
      case 'include': {
        const body = this.defines.get(String(args[0]));
        if (!body) throw new Error(`helm subset: no template "${String(args[0])}" is defined`);
        return this.nodes(body, { dot: args[1], vars: { $: this.root } });
      }
      default:
        throw new Error(`helm subset: function ${name} is not supported`);
    }
  }

  private operand(o: Operand, scope: Scope): Value {
    if (o.t === 'lit') return o.v;
    if (o.t === 'sub') return this.pipe(o.pipe, scope);
    if (o.t === 'fn') return this.call(o.name, []);
    let v: Value = o.base === '.' ? scope.dot : scope.vars[o.base];
    if (o.base !== '.' && !(o.base in scope.vars)) throw new Error(`helm subset: undefined variable ${o.base}`);
    for (const key of o.path) v = v !== null && typeof v === 'object' ? (v as Record<string, Value>)[key] : undefined;
    return v;
  }

  private pipe(pipe: Pipe, scope: Scope): Value {
    let carried: Value;
    pipe.forEach((command, i) => {
      const [head, ...rest] = command;
      const piped = i > 0 ? [carried] : [];
      if (head!.t === 'fn') carried = this.call(head!.name, [...rest.map((o) => this.operand(o, scope)), ...piped]);
      else if (command.length === 1 && i === 0) carried = this.operand(head!, scope);
      else throw new Error('helm subset: only functions take arguments');
    });
    return carried;
  }

  nodes(nodes: Node[], scope: Scope): string {
    let out = '';
    for (const node of nodes) {
      if (node.t === 'text') out += node.text;
      else if (node.t === 'out') out += printable(this.pipe(node.pipe, scope));
      else if (node.t === 'if') out += this.nodes(truthy(this.pipe(node.pipe, scope)) ? node.then : node.else, scope);
      else if (node.t === 'with') {
        const v = this.pipe(node.pipe, scope);
        out += truthy(v) ? this.nodes(node.then, { ...scope, dot: v }) : this.nodes(node.else, scope);
      } else if (node.t === 'range') {
        const v = this.pipe(node.pipe, scope);
        const entries: [Value, Value][] = Array.isArray(v)
          ? v.map((e, i) => [i, e])
          : v && typeof v === 'object'
            ? Object.keys(v)
                .sort()
                .map((k) => [k, (v as Record<string, Value>)[k]])
            : [];
        if (v !== undefined && v !== null && typeof v !== 'object') throw new Error('helm subset: range over a list or map only');
        if (!entries.length) out += this.nodes(node.else, scope);
        for (const [key, item] of entries) {
          const vars = { ...scope.vars };
          if (node.vars.length === 1) vars[node.vars[0]!] = item;
          if (node.vars.length === 2) Object.assign(vars, { [node.vars[0]!]: key, [node.vars[1]!]: item });
          out += this.nodes(node.body, { dot: item, vars });
        }
      }
    }
    return out;
  }
}

function merge(base: Value, over: Value): Value {
  if (!over || typeof over !== 'object' || Array.isArray(over) || !base || typeof base !== 'object' || Array.isArray(base)) return over === undefined ? base : over;
  const out: Record<string, Value> = { ...(base as Record<string, Value>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out;
}

export interface RenderOptions {
  release: string;
  namespace: string;
  /** Merged over the chart's values.yaml, as `--set`/`-f` would. */
  values?: Record<string, unknown>;
}

/** Renders a template string with a context (for the renderer's own spec). */
export function renderString(template: string, context: Record<string, unknown>, partials = ''): string {
  const renderer = new Renderer(context);
  parseTemplate(partials, renderer.defines);
  return renderer.nodes(parseTemplate(template, renderer.defines), { dot: context, vars: { $: context } });
}

/** `helm template RELEASE CHART --namespace NS --include-crds` as parsed objects, CRDs first. */
export function renderChart(chartDir: string, options: RenderOptions): Record<string, any>[] {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion?: string };
  const values = merge(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}, options.values ?? {});
  const context = { Values: values, Release: { Name: options.release, Namespace: options.namespace, Service: 'Helm' }, Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion } };
  const renderer = new Renderer(context);
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir)
    .filter((f) => /\.(ya?ml|tpl)$/.test(f))
    .sort();
  const parsed = files.map((f) => ({ f, nodes: parseTemplate(readFileSync(join(dir, f), 'utf8'), renderer.defines) }));
  const docs = (text: string) =>
    parseAllDocuments(text)
      .map((d) => d.toJS() as Record<string, any> | null)
      .filter((d): d is Record<string, any> => d !== null && typeof d === 'object');
  const crdDir = join(chartDir, 'crds');
  const crds = existsSync(crdDir)
    ? readdirSync(crdDir)
        .filter((f) => f.endsWith('.yaml'))
        .sort()
        .flatMap((f) => docs(readFileSync(join(crdDir, f), 'utf8')))
    : [];
  const objects = parsed.filter(({ f }) => !f.startsWith('_')).flatMap(({ nodes }) => docs(renderer.nodes(nodes, { dot: context, vars: { $: context } })));
  return [...crds, ...objects];
}
