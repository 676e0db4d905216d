/**
 * A Client's OAuth client_id, derived from where it is declared so it stays the same when
 * the object is deleted and declared again (tokens and configs that name it keep working).
 * Names are DNS labels without dots, so the dot makes the pair unambiguous.
 */
export function clientIdFor(namespace: string, name: string): string {
  return `${name}.${namespace}`;
}

/** The issuer path of an organization, or of a namespace's shared (workspace) applications. */
export function issuerPath(namespace: string, organization?: string): string {
  return organization ? `/${namespace}/${organization}` : `/${namespace}`;
}
