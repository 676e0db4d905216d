// Workspace.requireContract: no partner silently lacks a contract. An Organization without
// `contract` is refused (422 naming the object and field) once the Workspace requires one;
// those already stored are reported by a status condition, not deleted or stopped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, organization, workspace } from '../../support/objects.ts';

let gh: TestServer;
const uncontracted = (name: string) => {
  const org = organization(name);
  const { contract: _contract, ...spec } = org.spec;
  return { ...org, spec };
};
const condition = async (name: string, type: string) => ((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/${name}`)).body.status?.conditions ?? []).find((c: { type: string }) => c.type === type);

beforeAll(async () => {
  gh = await startTestServer();
  await gh.put('workspaces', workspace());
  await gh.put('organizations', uncontracted('legacy'));
  await gh.put('organizations', organization('forge'));
});
afterAll(async () => {
  await gh.close();
});

describe('Workspace.requireContract', () => {
  it('off: an organization may go without a contract, and nothing is reported', async () => {
    expect(await condition('legacy', 'ContractDeclared')).toBeUndefined();
  });

  it('turned on: organizations already without a contract show ContractDeclared=False; those with one, True', async () => {
    await gh.put('workspaces', workspace({ requireContract: true }));
    expect(await condition('legacy', 'ContractDeclared')).toMatchObject({ status: 'False', reason: 'ContractRequired', message: expect.stringContaining('spec.contract') });
    expect(await condition('forge', 'ContractDeclared')).toMatchObject({ status: 'True', message: 'contract C-forge' });
  });

  it('on: an Organization without a contract is refused with 422 naming the object and spec.contract', async () => {
    const res = await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/pinnacle`, uncontracted('pinnacle'));
    expect(res.status).toBe(422);
    expect(res.body.object).toBe(`Organization ${NS}/pinnacle`);
    expect(res.body.errors).toEqual([{ path: 'spec.contract', message: expect.stringContaining('requireContract') }]);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/pinnacle`)).status).toBe(404);
    // Nor may an existing one drop its contract.
    expect((await gh.admin('PUT', `/admin/v1/namespaces/${NS}/organizations/forge`, uncontracted('forge'))).status).toBe(422);
  });

  it('on: declaring the contract is admitted and clears the report', async () => {
    await gh.put('organizations', organization('legacy'));
    expect(await condition('legacy', 'ContractDeclared')).toMatchObject({ status: 'True' });
  });
});
