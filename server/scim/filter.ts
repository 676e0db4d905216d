import { ScimError } from './errors.ts';

/**
 * SCIM filters (RFC 7644 §3.4.2.2): attribute paths compared with eq, ne, co, sw, ew, gt, ge,
 * lt, le or tested with pr, combined with and, or, not and parentheses, and value filters on
 * multi-valued attributes (`emails[type eq "work"]`). Attribute names and operators are
 * case-insensitive; string comparisons too (every attribute we keep is caseExact false).
 */
export type Filter = { op: 'and' | 'or'; left: Filter; right: Filter } | { op: 'not'; filter: Filter } | { op: 'pr'; path: string } | { op: 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le'; path: string; value: string | number | boolean | null } | { op: 'has'; path: string; filter: Filter };

const COMPARE = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const MAX_FILTER = 2048;

type Token = { kind: 'word'; text: string } | { kind: 'string'; text: string } | { kind: 'punct'; text: '(' | ')' | '[' | ']' };

function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      out.push({ kind: 'punct', text: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      while (j < input.length && input[j] !== '"') {
        if (input[j] === '\\' && j + 1 < input.length) j++;
        text += input[j];
        j++;
      }
      if (j >= input.length) throw invalid('a string is not closed with "');
      out.push({ kind: 'string', text });
      i = j + 1;
    } else {
      let j = i;
      while (j < input.length && !' \t()[]"'.includes(input[j]!)) j++;
      out.push({ kind: 'word', text: input.slice(i, j) });
      i = j;
    }
  }
  return out;
}

const invalid = (detail: string) => new ScimError(400, 'invalidFilter', `filter: ${detail}`);

/** Parses a filter; a ScimError (400 invalidFilter) says what is wrong with it. */
export function parseFilter(input: string): Filter {
  if (input.length > MAX_FILTER) throw invalid(`longer than ${MAX_FILTER} characters`);
  const tokens = tokenize(input);
  let pos = 0;
  const peekWord = () => {
    const t = tokens[pos];
    return t?.kind === 'word' ? t.text.toLowerCase() : undefined;
  };
  const expect = (text: string) => {
    const t = tokens[pos];
    if (t?.kind !== 'punct' || t.text !== text) throw invalid(`expected "${text}"`);
    pos++;
  };
  const attrPath = (): string => {
    const t = tokens[pos];
    if (t?.kind !== 'word' || !/^[A-Za-z][\w:.$-]*$/.test(t.text)) throw invalid(`expected an attribute name${t ? ` at "${t.text}"` : ''}`);
    pos++;
    return t.text;
  };
  const value = (): string | number | boolean | null => {
    const t = tokens[pos++];
    if (!t) throw invalid('expected a value');
    if (t.kind === 'string') return t.text;
    if (t.kind === 'word') {
      const w = t.text.toLowerCase();
      if (w === 'true') return true;
      if (w === 'false') return false;
      if (w === 'null') return null;
      if (/^-?\d+(\.\d+)?$/.test(w)) return Number(w);
    }
    throw invalid(`"${t.text}" is not a value (strings are quoted)`);
  };
  const primary = (): Filter => {
    const t = tokens[pos];
    if (t?.kind === 'punct' && t.text === '(') {
      pos++;
      const inner = or();
      expect(')');
      return inner;
    }
    if (peekWord() === 'not') {
      pos++;
      expect('(');
      const inner = or();
      expect(')');
      return { op: 'not', filter: inner };
    }
    const path = attrPath();
    const next = tokens[pos];
    if (next?.kind === 'punct' && next.text === '[') {
      pos++;
      const inner = or();
      expect(']');
      // `emails[type eq "work"].value eq "…"`: the sub-attribute of the same selected value.
      const sub = tokens[pos];
      if (sub?.kind !== 'word' || !/^\.[A-Za-z][\w$-]*$/.test(sub.text)) return { op: 'has', path, filter: inner };
      pos++;
      return { op: 'has', path, filter: { op: 'and', left: inner, right: comparison(sub.text.slice(1)) } };
    }
    return comparison(path);
  };
  const comparison = (path: string): Filter => {
    const op = peekWord();
    if (op === 'pr') {
      pos++;
      return { op: 'pr', path };
    }
    if (!op || !COMPARE.has(op)) throw invalid(`expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after ${path}`);
    pos++;
    return { op: op as 'eq', path, value: value() };
  };
  const and = (): Filter => {
    let left = primary();
    while (peekWord() === 'and') {
      pos++;
      left = { op: 'and', left, right: primary() };
    }
    return left;
  };
  const or = (): Filter => {
    let left = and();
    while (peekWord() === 'or') {
      pos++;
      left = { op: 'or', left, right: and() };
    }
    return left;
  };
  const filter = or();
  if (pos !== tokens.length) throw invalid(`unexpected "${(tokens[pos] as Token).text}"`);
  return filter;
}

/** The values at an attribute path of a resource: `emails.value` of every email, extension URNs included. */
export function valuesAt(resource: Record<string, unknown>, path: string): unknown[] {
  let rest = path;
  let scope: unknown = resource;
  // `urn:…:enterprise:2.0:User:department`: the schema URN is the first key.
  const lower = path.toLowerCase();
  const urn = Object.keys(resource).find((k) => k.startsWith('urn:') && lower.startsWith(`${k.toLowerCase()}:`));
  if (urn) {
    scope = resource[urn];
    rest = path.slice(urn.length + 1);
  }
  let current: unknown[] = [scope];
  for (const part of rest.split('.')) {
    const next: unknown[] = [];
    for (const v of current) {
      for (const item of Array.isArray(v) ? v : [v]) {
        if (!item || typeof item !== 'object') continue;
        const key = Object.keys(item).find((k) => k.toLowerCase() === part.toLowerCase());
        if (key !== undefined) next.push((item as Record<string, unknown>)[key]);
      }
    }
    current = next.flatMap((v) => (Array.isArray(v) ? v : [v]));
  }
  return current.filter((v) => v !== undefined && v !== null);
}

function compare(actual: unknown, op: string, expected: string | number | boolean | null): boolean {
  if (typeof actual === 'string' && typeof expected === 'string') {
    const a = actual.toLowerCase();
    const e = expected.toLowerCase();
    switch (op) {
      case 'eq':
        return a === e;
      case 'ne':
        return a !== e;
      case 'co':
        return a.includes(e);
      case 'sw':
        return a.startsWith(e);
      case 'ew':
        return a.endsWith(e);
      case 'gt':
        return a > e;
      case 'ge':
        return a >= e;
      case 'lt':
        return a < e;
      case 'le':
        return a <= e;
    }
  }
  if (typeof actual === 'number' && typeof expected === 'number') {
    switch (op) {
      case 'eq':
        return actual === expected;
      case 'ne':
        return actual !== expected;
      case 'gt':
        return actual > expected;
      case 'ge':
        return actual >= expected;
      case 'lt':
        return actual < expected;
      case 'le':
        return actual <= expected;
    }
  }
  if (op === 'eq') return actual === expected;
  if (op === 'ne') return actual !== expected;
  return false;
}

/** Whether a resource (as it is rendered) matches the filter. */
export function matches(resource: Record<string, unknown>, filter: Filter): boolean {
  switch (filter.op) {
    case 'and':
      return matches(resource, filter.left) && matches(resource, filter.right);
    case 'or':
      return matches(resource, filter.left) || matches(resource, filter.right);
    case 'not':
      return !matches(resource, filter.filter);
    case 'pr':
      return valuesAt(resource, filter.path).some((v) => v !== '' && !(Array.isArray(v) && v.length === 0));
    case 'has':
      return valuesAt(resource, filter.path).some((item) => item && typeof item === 'object' && matches(item as Record<string, unknown>, filter.filter));
    default: {
      const values = valuesAt(resource, filter.path);
      if (filter.op === 'ne') return values.length === 0 ? filter.value !== null : values.every((v) => compare(v, 'ne', filter.value));
      return values.some((v) => compare(v, filter.op, filter.value));
    }
  }
}
