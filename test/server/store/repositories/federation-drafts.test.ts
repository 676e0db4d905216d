/**
 * Conformance of the federation-drafts repository: IdP connections a partner administrator is
 * setting up in the portal. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

const draft = (name: string, organization: string, spec = '{"type":"oidc"}') => ({ namespace: NAMESPACE, name, organization, spec, inspection: '{}', secretName: null, actor: 'ana', updatedAt: 1000 });

backends.each('the federation-drafts repository', (backend) => {
  it('saves a draft, bumping its revision and clearing its test result on every save', async () => {
    const store = await open(await backend.fresh());
    expect(await store.federationDrafts.get(NAMESPACE, 'acme-sso')).toBeUndefined();
    expect(await store.federationDrafts.save(draft('acme-sso', 'acme'))).toBe(1);
    expect(await store.federationDrafts.recordTest(NAMESPACE, 'acme-sso', 1, '{"ok":true}')).toBe(true);
    expect((await store.federationDrafts.get(NAMESPACE, 'acme-sso'))?.test).toBe('{"ok":true}');
    expect(await store.federationDrafts.save({ ...draft('acme-sso', 'acme', '{"type":"saml"}'), secretName: 'acme-sso-client-secret', updatedAt: 2000 })).toBe(2);
    expect(await store.federationDrafts.get(NAMESPACE, 'acme-sso')).toEqual({ ...draft('acme-sso', 'acme', '{"type":"saml"}'), secretName: 'acme-sso-client-secret', updatedAt: 2000, revision: 2, test: null });
  });

  it('records a test only against the revision it tested', async () => {
    const store = await open(await backend.fresh());
    await store.federationDrafts.save(draft('acme-sso', 'acme'));
    await store.federationDrafts.save(draft('acme-sso', 'acme'));
    expect(await store.federationDrafts.recordTest(NAMESPACE, 'acme-sso', 1, '{"ok":true}')).toBe(false);
    expect((await store.federationDrafts.get(NAMESPACE, 'acme-sso'))?.test).toBeNull();
    expect(await store.federationDrafts.recordTest(NAMESPACE, 'gone', 1, '{"ok":true}')).toBe(false);
  });

  it("never lets one organization's save take over another organization's draft of the same name", async () => {
    const store = await open(await backend.fresh());
    await store.federationDrafts.save(draft('shared-name', 'acme'));
    expect(await store.federationDrafts.save(draft('shared-name', 'forge', '{"type":"saml"}'))).toBeUndefined();
    expect(await store.federationDrafts.get(NAMESPACE, 'shared-name')).toMatchObject({ organization: 'acme', spec: '{"type":"oidc"}', revision: 1 });
  });

  it("lists an organization's drafts by name and deletes only its own", async () => {
    const store = await open(await backend.fresh());
    await store.federationDrafts.save(draft('b-sso', 'acme'));
    await store.federationDrafts.save(draft('a-sso', 'acme'));
    await store.federationDrafts.save(draft('f-sso', 'forge'));
    await store.federationDrafts.save({ ...draft('a-sso', 'acme'), namespace: 'elsewhere' });
    expect((await store.federationDrafts.list(NAMESPACE, 'acme')).map((d) => d.name)).toEqual(['a-sso', 'b-sso']);
    expect(await store.federationDrafts.delete(NAMESPACE, 'f-sso', 'acme')).toBe(false);
    expect(await store.federationDrafts.delete(NAMESPACE, 'a-sso', 'acme')).toBe(true);
    expect((await store.federationDrafts.list(NAMESPACE, 'acme')).map((d) => d.name)).toEqual(['b-sso']);
    expect(await store.federationDrafts.get('elsewhere', 'a-sso')).toBeDefined();
  });
});
