// IssuerResolution: which issuer a request is for, from the store's configuration versions, looked
// at once a second at most (or at once after a change made here).
import { afterEach, expect, it } from '@jest/globals';
import { storeBackends } from '../../support/store-backends.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, accessPolicy, client, organization, workspace } from '../../support/objects.ts';

const backends = await storeBackends();
let gh: TestServer | undefined;
afterEach(async () => {
  await gh?.close();
  gh = undefined;
});

backends.each('issuer resolution', (backend) => {
  it('lets no request past a look at the store under way: the first tokens of an organization just declared are all issued', async () => {
    gh = await startTestServer({ store: await backend.fresh() });
    // Declared without a request to this server (as another replica, or the controller's pass
    // through another replica, would): nothing here has looked at the store since.
    const actor = { actor: 'spec' };
    for (const object of [
      workspace(),
      organization('forge', { contract: { id: 'BLX-7', partnerType: 'supplier', owner: 'o@blixit.example', endsAt: '2027-12-31T00:00:00Z' } }),
      client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: ['https://inventory.example'] }),
      accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] }),
    ]) {
      await gh.gatehouse.objects.apply(object as never, actor);
    }
    const secret = (await gh.gatehouse.clientSecrets.rotate(NS, 'forge-sync', actor)).clientSecret;
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    // The first of these looks at the store; on PostgreSQL the others arrive while it waits for the answer.
    const statuses = await Promise.all(
      Array.from({ length: 32 }, async () => {
        const res = await fetch(`${gh!.url}/${NS}/forge/token`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=inventory%3Aread' });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses).toEqual(Array.from({ length: 32 }, () => 200));
  });
});
