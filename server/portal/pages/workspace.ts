import type { PortalServices } from '../page.ts';

/** The workspace overview's content (read-only): filled in below. */
export async function WORKSPACE_PAGE(services: PortalServices, namespace: string, base: string): Promise<string> {
  void services;
  void base;
  return `<p>Organizations of ${namespace}.</p>`;
}
