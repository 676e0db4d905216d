/**
 * The email-domain index a write judges ownership with (governance/domain-index.ts) is kept
 * between writes: it answers as the namespace is now, at once, whoever changed it last — this
 * service, a bulk apply, a delete, a write that was rolled back, or another replica on the
 * same database. And it judges as domains.ts's reference (`domainConflicts`) does.
 */
import { describe, expect, it } from '@jest/globals';
import { withDescendants, type OrganizationObject, type OrganizationTemplateObject } from '../../../api/index.ts';
import { fixedClock } from '../../../server/clock.ts';
import { DomainIndex } from '../../../server/governance/domain-index.ts';
import { domainConflicts } from '../../../server/governance/domains.ts';
import { ObjectService } from '../../../server/objects/service.ts';
import { Problem } from '../../../server/errors.ts';
import { NS, idp, organization, template } from '../../support/objects.ts';
import { storeBackends } from '../../support/store-backends.ts';

const backends = await storeBackends();
const ctx = { actor: 'spec' };

/** The field errors a write is refused with, or [] when it is admitted. */
async function refusal(write: Promise<unknown>): Promise<string[]> {
  try {
    await write;
    return [];
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    return error.errors.map((e) => `${e.path}: ${e.message}`);
  }
}

backends.each('the email-domain index', (backend) => {
  const services = async (count: number) => {
    const store = await backends.open(await backend.fresh());
    return Array.from({ length: count }, () => new ObjectService({ store, clock: fixedClock('2026-12-01T00:00:00Z'), publicUrl: 'http://localhost' }));
  };

  it('refuses a domain organization A claims to B, and frees it at once when A stops claiming it', async () => {
    const [svc] = await services(1);
    await svc!.apply(organization('acme', { emailDomains: ['acme.example'] }), ctx);
    expect(await refusal(svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx))).toEqual([expect.stringMatching(/^spec\.emailDomains\[0\]: "acme\.example" is owned by Organization .*\/acme;/)]);
    expect(await refusal(svc!.apply(organization('brio', { emailDomains: ['shop.acme.example'] }), ctx))).toEqual([expect.stringContaining('is a subdomain of "acme.example"')]);
    expect(await refusal(svc!.apply(idp('brio-idp', 'acme', { emailDomains: ['brio.example'] }), ctx))).toEqual([expect.stringContaining('"brio.example" is not an email domain of organization acme')]);
    await svc!.apply(organization('acme', { emailDomains: ['acme-corp.example'] }), ctx);
    expect((await svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx)).outcome).toBe('created');
    // And the other way: A may not take it back.
    expect(await refusal(svc!.apply(organization('acme', { emailDomains: ['acme.example'] }), ctx))).toEqual([expect.stringContaining('/brio;')]);
  });

  it("counts a claim that comes through A's template, and frees it when the template stops declaring it", async () => {
    const [svc] = await services(1);
    await svc!.apply(template('partner', { emailDomains: ['acme.example'] }), ctx);
    await svc!.apply(organization('acme', { emailDomains: undefined, templateRef: { name: 'partner' } }), ctx);
    expect(await refusal(svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx))).toEqual([expect.stringContaining('/acme;')]);
    await svc!.apply(template('partner', { emailDomains: ['partner.example'] }), ctx);
    expect((await svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx)).outcome).toBe('created');
    // The template taking it back would put acme in a collision: refused, naming the organization that inherits it.
    expect(await refusal(svc!.apply(template('partner', { emailDomains: ['acme.example'] }), ctx))).toEqual([expect.stringContaining('organization acme inherits it from OrganizationTemplate partner')]);
  });

  it('frees a domain at once when its owner is deleted, and after a bulk apply sees what the batch claimed', async () => {
    const [svc] = await services(1);
    await svc!.apply(organization('acme', { emailDomains: ['acme.example'] }), ctx);
    expect(await refusal(svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx))).not.toEqual([]);
    await svc!.apply(organization('cove', { emailDomains: ['cove.example'] }), ctx); // kept after this write
    await svc!.delete('Organization', NS, 'acme', ctx);
    expect((await svc!.apply(organization('brio', { emailDomains: ['acme.example'] }), ctx)).outcome).toBe('created');
    await svc!.applyMany(NS, [{ object: organization('cone', { emailDomains: ['cone.example'] }) }, { object: organization('dune', { emailDomains: ['dune.example'] }) }], ctx);
    expect(await refusal(svc!.apply(organization('echo', { emailDomains: ['dune.example'] }), ctx))).toEqual([expect.stringContaining('/dune;')]);
    // A batch judges each object against those before it in the batch.
    await expect(svc!.applyMany(NS, [{ object: organization('fern', { emailDomains: ['fern.example'] }) }, { object: organization('gale', { emailDomains: ['fern.example'] }) }], ctx)).rejects.toThrow(/"fern\.example" is owned by Organization .*\/fern;/);
  });

  it('forgets what a refused (rolled back) batch claimed', async () => {
    const [svc] = await services(1);
    await svc!.apply(organization('acme', { emailDomains: ['acme.example'] }), ctx);
    // The first object is admitted (the index follows it), the second refused: the batch rolls back.
    await expect(svc!.applyMany(NS, [{ object: organization('brio', { emailDomains: ['brio.example'] }) }, { object: organization('cove', { emailDomains: ['acme.example'] }) }], ctx)).rejects.toThrow(/acme\.example/);
    expect((await svc!.apply(organization('dune', { emailDomains: ['brio.example'] }), ctx)).outcome).toBe('created');
  });

  it("sees another replica's writes at once", async () => {
    const [one, two] = await services(2);
    await one!.apply(organization('acme', { emailDomains: ['acme.example'] }), ctx);
    await one!.apply(organization('brio', { emailDomains: ['brio.example'] }), ctx); // `one` keeps its index
    await two!.apply(organization('acme', { emailDomains: ['acme-corp.example'] }), ctx);
    expect((await one!.apply(organization('brio', { emailDomains: ['brio.example', 'acme.example'] }), ctx)).outcome).toBe('updated');
    await two!.apply(organization('cove', { emailDomains: ['cove.example'] }), ctx);
    expect(await refusal(one!.apply(organization('dune', { emailDomains: ['cove.example'] }), ctx))).toEqual([expect.stringContaining('/cove;')]);
  });
});

describe('the index judges as the reference does', () => {
  const orgOf = (name: string, spec: Record<string, unknown>) => organization(name, spec) as unknown as OrganizationObject;
  it('on namespaces of families, templates, subdomains and look-alikes, whichever organization is affected', () => {
    // A small generator, seeded: the same namespaces every run.
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const domains = ['a.example', 'b.a.example', 'c.b.a.example', 'ba.example', 'x.example', 'a.example.x.example', 'example'];
    for (let round = 0; round < 200; round++) {
      const templates = new Map<string, OrganizationTemplateObject>();
      for (let t = 0; t < 2; t++) templates.set(`t${t}`, template(`t${t}`, { emailDomains: [domains[next(domains.length)]!] }) as unknown as OrganizationTemplateObject);
      const orgs = new Map<string, OrganizationObject>();
      for (let o = 0; o < 6; o++) {
        const own = next(3) > 0 ? { emailDomains: [domains[next(domains.length)]!, ...(next(2) ? [domains[next(domains.length)]!] : [])] } : { emailDomains: undefined, templateRef: { name: `t${next(2)}` } };
        const parent = o > 0 && next(2) ? { parentRef: { name: `o${next(o)}` } } : {};
        orgs.set(`o${o}`, orgOf(`o${o}`, { ...own, ...parent }));
      }
      const index = new DomainIndex(orgs.values(), templates.values());
      for (const name of orgs.keys()) {
        // Owners are met in name order by both, so even the owner named is the same.
        expect(index.conflicts([name])).toEqual(domainConflicts(orgs, templates, [name]));
        expect(index.withDescendants(name).sort()).toEqual(withDescendants(orgs, name).sort());
      }
    }
  });
});
