import type { IdPConnectionObject } from '../../api/index.ts';

/**
 * Where a connection's upstream answers: always under its own organization's issuer, so
 * one registration at the partner's IdP serves the organization's issuer and the shared one.
 */
export function connectionEndpoints(publicUrl: string, namespace: string, connection: Pick<IdPConnectionObject, 'metadata' | 'spec'>): { redirectUri: string; acsUrl: string; metadataUrl: string } {
  const base = `${publicUrl.replace(/\/+$/, '')}/${namespace}/${connection.spec.organizationRef.name}`;
  const name = connection.metadata.name;
  return { redirectUri: `${base}/broker/${name}/callback`, acsUrl: `${base}/saml/${name}/acs`, metadataUrl: `${base}/saml/${name}/metadata` };
}
