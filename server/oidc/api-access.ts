import type { AccessPolicyObject, ClientObject } from '../../api/index.ts';

/**
 * What an AccessPolicy's `api` entries open, as the authorization decision endpoint reads
 * them (server/issuers/authorize.ts). A path entry is either exact (`/orders` matches
 * `/orders` only: not `/orders/`, not `/orders/1`) or a prefix written with a trailing `/*`
 * (`/orders/*` matches every path below `/orders/`, and not `/orders` itself; `/*` matches
 * every path). Methods match exactly (GET does not open HEAD). The query string is never
 * part of the match.
 */

/** Which entry opened a request: the policy, the scope the token holds, and the entry's path. */
export interface ApiMatch {
  policy: string;
  scope: string;
  /** The entry's `path`, as declared (`/orders/*`). */
  pattern: string;
}

export function pathMatches(pattern: string, path: string): boolean {
  if (pattern.endsWith('/*')) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}

/**
 * A request path as it is matched, or why it cannot be. Percent-encoding is decoded once;
 * a path is refused when, decoded, it has a `.` or `..` segment (`/orders/../admin` would
 * pass the `/orders/*` prefix and reach `/admin` at the API), a backslash, a control
 * character or a `%` left over (double encoding), or when it encodes a `/` or `\` (APIs
 * disagree on whether `%2F` separates segments). A refused path is denied, never guessed at.
 */
export function canonicalPath(raw: string): { ok: true; path: string } | { ok: false; detail: string } {
  const query = raw.search(/[?#]/);
  const encoded = query < 0 ? raw : raw.slice(0, query);
  if (!encoded.startsWith('/')) return { ok: false, detail: 'the path must start with "/"' };
  if (/%(2f|5c)/i.test(encoded)) return { ok: false, detail: 'the path encodes a "/" or "\\"' };
  let path: string;
  try {
    path = decodeURIComponent(encoded);
  } catch {
    return { ok: false, detail: 'the path has a malformed percent-encoding' };
  }
  if (path.includes('%')) return { ok: false, detail: 'the path is encoded twice' };
  if (/[\\\x00-\x1f\x7f]/.test(path)) return { ok: false, detail: 'the path has a backslash or a control character' };
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return { ok: false, detail: 'the path has a "." or ".." segment' };
  return { ok: true, path };
}

/**
 * The first `api` entry, among the policies that apply to `client` in `organization`, that a
 * scope the token holds opens for `method` and `path` (policies by name, entries in declared
 * order, so the answer is the same on every replica). A scope no policy gives an `api` entry
 * opens no path: what is not declared is denied.
 */
export function matchApi(policies: readonly AccessPolicyObject[], organization: string, client: ClientObject, held: ReadonlySet<string>, method: string, path: string): ApiMatch | undefined {
  const own = policies.filter((p) => p.spec.organizationRef.name === organization && (!p.spec.clientRef || p.spec.clientRef.name === client.metadata.name));
  const ordered = [...own].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const policy of ordered) {
    for (const grant of policy.spec.scopes) {
      if (!held.has(grant.scope)) continue;
      for (const entry of grant.api ?? []) {
        if ((entry.methods as readonly string[]).includes(method) && pathMatches(entry.path, path)) return { policy: policy.metadata.name, scope: grant.scope, pattern: entry.path };
      }
    }
  }
  return undefined;
}
