import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { emailDomain } from '../../../server/governance/domains.ts';
import { startPostgres } from '../../support/postgres.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, idp, organization, template, user } from '../../support/objects.ts';

/** Email domains belong to exactly one organization of a namespace, whichever write path tries otherwise. */

let gh: TestServer;
const path = (plural: string, name: string) => `/admin/v1/namespaces/${NS}/${plural}/${name}`;
const put = (plural: string, object: { metadata: { name: string } }) => gh.admin('PUT', path(plural, object.metadata.name), object);

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('organizations', organization('acme', { emailDomains: ['acme.example', 'acme-corp.example'] }));
  await gh.put('organizations', organization('acme-eu', { parentRef: { name: 'acme' }, emailDomains: ['eu.acme.example'] }));
  await gh.put('organizations', organization('forge'));
  await gh.put('organizations', organization('deep', { emailDomains: ['shop.deep.example'] }));
});
afterAll(async () => {
  await gh.close();
});

describe('an organization cannot claim a domain another organization owns', () => {
  it.each([
    ['the same domain', 'acme.example', '"acme.example" is owned by Organization'],
    ['a subdomain of it', 'us.acme.example', '"us.acme.example" is a subdomain of "acme.example"'],
    ['a deeper subdomain', 'a.b.acme.example', 'is a subdomain of "acme.example"'],
    ['a parent domain of it', 'deep.example', '"deep.example" is a parent domain of "shop.deep.example"'],
  ])('%s (%s)', async (_what, domain, message) => {
    const res = await put('organizations', organization('intruder', { emailDomains: ['intruder.example', domain] }));
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.object).toBe(`Organization ${NS}/intruder`);
    expect(res.body.errors).toEqual([{ path: 'spec.emailDomains[1]', message: expect.stringContaining(message) }]);
    expect(res.body.errors[0].message).toMatch(new RegExp(`Organization ${NS}/(acme|deep);`));
    expect((await gh.admin('GET', path('organizations', 'intruder'))).status).toBe(404);
  });

  it('each of its domains is checked, whichever index collides', async () => {
    const res = await put('organizations', organization('intruder', { emailDomains: ['acme-corp.example', 'intruder.example', 'shop.forge.example'] }));
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['spec.emailDomains[0]', 'spec.emailDomains[2]']);
    expect(res.body.errors[1].message).toMatch(/"shop\.forge\.example" is a subdomain of "forge\.example", owned by Organization .*\/forge;/);
  });

  it('look-alikes are different domains: a suffix without the dot, another label', async () => {
    for (const [name, domain] of [
      ['evil', 'evilacme.example'],
      ['acmex', 'acme.example.evil.example'],
    ] as const) {
      expect((await put('organizations', organization(name, { emailDomains: [domain] }))).status).toBe(201);
    }
  });

  it('uppercase, trailing dots and unicode are refused by the schema, so no spelling dodges the comparison', async () => {
    for (const domain of ['ACME.example', 'acme.example.', 'acmé.example', ' acme.example']) {
      const res = await put('organizations', organization('spelling', { emailDomains: [domain] }));
      expect(res.status).toBe(422);
      expect(res.body.errors[0].path).toBe('spec.emailDomains[0]');
    }
  });

  it("a sub-organization may own a subdomain of its parent's domain, never the same domain", async () => {
    expect((await put('organizations', organization('acme-us', { parentRef: { name: 'acme' }, emailDomains: ['us.acme.example'] }))).status).toBe(201);
    const same = await put('organizations', organization('acme-dup', { parentRef: { name: 'acme' }, emailDomains: ['acme.example'] }));
    expect(same.status).toBe(422);
    expect(same.body.errors[0].message).toContain(`Organization ${NS}/acme`);
  });

  it('moving a sub-organization to another parent is refused while it owns a subdomain of its old family', async () => {
    const res = await put('organizations', organization('acme-us', { parentRef: { name: 'forge' }, emailDomains: ['us.acme.example'] }));
    expect(res.status).toBe(422);
    expect(res.body.errors[0]).toEqual({ path: 'spec.emailDomains[0]', message: expect.stringContaining('"us.acme.example" is a subdomain of "acme.example"') });
  });

  it("moving a parent away from its family is refused for its sub-organization's domains", async () => {
    await gh.put('organizations', organization('holding', { emailDomains: ['holding.example'] }));
    await gh.put('organizations', organization('holding-mid', { parentRef: { name: 'holding' }, emailDomains: ['mid.holding.example'] }));
    await gh.put('organizations', organization('holding-leaf', { parentRef: { name: 'holding-mid' }, emailDomains: ['leaf.holding.example'] }));
    const res = await put('organizations', organization('holding-mid', { parentRef: { name: 'forge' }, emailDomains: ['mid.holding.example'] }));
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['spec.emailDomains[0]', 'spec.parentRef.name']);
    expect(res.body.errors[1].message).toContain('leaf.holding.example');
  });
});

describe('inherited domains are owned too', () => {
  it('an organization inheriting a domain another owns is refused at spec.templateRef', async () => {
    await gh.put('organizationtemplates', template('acme-like', { emailDomains: ['acme.example'] }));
    const res = await put('organizations', organization('copycat', { emailDomains: undefined, templateRef: { name: 'acme-like' } }));
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'spec.templateRef.name', message: expect.stringContaining(`inherits it from OrganizationTemplate acme-like`) }]);
  });

  it('a template change that would make two organizations collide is refused, naming both', async () => {
    await gh.put('organizationtemplates', template('shared', { emailDomains: ['tpl-one.example'] }));
    await gh.put('organizations', organization('tpl-a', { emailDomains: undefined, templateRef: { name: 'shared' } }));
    // A second organization inheriting the same domain collides with the first.
    const second = await put('organizations', organization('tpl-b', { emailDomains: undefined, templateRef: { name: 'shared' } }));
    expect(second.status).toBe(422);
    await gh.put('organizations', organization('tpl-b', { emailDomains: ['tpl-b.example'] }));
    const res = await put('organizationtemplates', template('shared', { emailDomains: ['tpl-one.example', 'tpl-b.example'] }));
    expect(res.status).toBe(422);
    expect(res.body.object).toBe(`OrganizationTemplate ${NS}/shared`);
    expect(res.body.errors).toEqual([{ path: 'spec.emailDomains[1]', message: expect.stringMatching(/"tpl-b\.example" is owned by Organization .*\/tpl-b \(organization tpl-a inherits it/) }]);
  });
});

describe("an IdPConnection routes only its own organization's domains", () => {
  it.each([
    ["another organization's domain", 'acme.example', 'owned by Organization'],
    ['a domain nobody owns', 'nobody.example', 'is not an email domain of organization forge'],
    ['a subdomain of its own domain it did not declare', 'eu.forge.example', 'is not an email domain of organization forge'],
  ])('%s is refused', async (_what, domain, message) => {
    const res = await put('idpconnections', idp('forge-idp', 'forge', { emailDomains: ['forge.example', domain] }));
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'spec.emailDomains[1]', message: expect.stringContaining(message) }]);
  });

  it('its own domains are accepted', async () => {
    expect((await put('idpconnections', idp('forge-idp', 'forge', { emailDomains: ['forge.example'] }))).status).toBe(201);
  });
});

describe('a declared User', () => {
  it("must have an address in its organization's domains", async () => {
    const res = await put('users', user('mallory', 'forge', { email: 'mallory@acme.example' }));
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'spec.email', message: expect.stringContaining(`owned by Organization ${NS}/acme`) }]);
    for (const email of ['m@evilacme.example', 'm@sub.forge.example', 'm@FORGE.example.evil.example']) {
      expect((await put('users', user('mallory', 'forge', { email }))).status).toBe(422);
    }
    expect((await put('users', user('mallory', 'forge', { email: 'Mallory@FORGE.example' }))).status).toBe(201);
  });

  it('of an organization without domains is refused', async () => {
    await gh.put('organizations', organization('nodomains', { emailDomains: undefined }));
    const res = await put('users', user('nobody', 'nodomains', { email: 'nobody@nodomains.example' }));
    expect(res.status).toBe(422);
    expect(res.body.errors[0].message).toContain('owns no email domain');
  });

  it("never takes over another organization's account, by name or by address", async () => {
    await gh.put('users', user('alice', 'acme', { email: 'alice@acme.example' }));
    // The same name declared in another organization would move alice's account (password, MFA) there.
    const byName = await put('users', user('alice', 'forge', { email: 'alice@forge.example' }));
    expect(byName.status).toBe(422);
    expect(byName.body.errors).toContainEqual({ path: 'metadata.name', message: expect.stringContaining('already exists in another organization') });
    expect((await gh.store.users.find(NS, 'alice'))!.organization).toBe('acme');
    // The same address, under another name, in another organization or as a workspace user.
    const byAddress = await put('users', user('alice2', 'acme-eu', { email: 'alice@acme.example' }));
    expect(byAddress.status).toBe(422);
    expect(byAddress.body.errors).toContainEqual({ path: 'spec.email', message: expect.stringContaining('already has an account in another organization') });
    const asWorkspaceUser = await put('users', user('alice-root', undefined, { email: 'ALICE@acme.example' }));
    expect(asWorkspaceUser.status).toBe(422);
    expect(asWorkspaceUser.body.errors).toEqual([{ path: 'spec.email', message: expect.stringContaining('already has an account in another organization') }]);
  });

  it('a workspace administrator (no organization) needs no partner domain', async () => {
    expect((await put('users', user('root', undefined, { email: 'root@blixit.example' }))).status).toBe(201);
  });
});

describe('addresses are compared as an owner would', () => {
  it('lowercases, takes the A-label of an IDN, and gives an absolute or empty domain none', () => {
    expect(emailDomain('Ana@ACME.Example')).toBe('acme.example');
    expect(emailDomain('ana@acmé.example')).toBe('xn--acm-dma.example');
    expect(emailDomain('ana@acme.example.')).toBeUndefined();
    expect(emailDomain('ana@')).toBeUndefined();
    expect(emailDomain('@acme.example')).toBeUndefined();
    expect(emailDomain('a@b@acme.example')).toBe('acme.example');
  });
});

describe('two racing writes cannot both claim a domain', () => {
  // Straight into the object service, which is the transaction both the admin API and the
  // boot loader write through: eight writers at once, one domain.
  const race = async (server: TestServer) => {
    const names = Array.from({ length: 8 }, (_, i) => `racer-${i}`);
    // Warm the pool first: writers waiting for a fresh connection would arrive one by one.
    await Promise.all(names.map((name) => server.gatehouse.objects.apply(organization(`warm-${name}`), { actor: 'test' })));
    const results = await Promise.allSettled(names.map((name) => server.gatehouse.objects.apply(organization(name, { emailDomains: ['contested.example'] }), { actor: 'test' })));
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.status)).toEqual(Array(7).fill(422));
    return results.filter((r) => r.status === 'fulfilled').length;
  };

  it('on SQLite', async () => {
    expect(await race(gh)).toBe(1);
  });

  it("on PostgreSQL (the check holds the namespace's lock)", async () => {
    const pg = await startPostgres();
    if (!pg) return;
    const server = await startTestServer({ store: { databaseUrl: await pg.createSchema() } });
    try {
      expect(await race(server)).toBe(1);
    } finally {
      await server.close();
      await pg.stop();
    }
  }, 60_000);
});
