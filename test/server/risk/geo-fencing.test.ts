// Geo-fencing: Organization.spec.network.allowedCountries / deniedCountries, enforced as part of
// the network gate beside allowedCidrs, with the offline country database (server/risk/geo.ts).
// Addresses are ones the shipped database maps: 193.0.0.1 NL (RIPE NCC), 8.8.8.8 US,
// 5.255.255.5 RU, 1.0.16.1 JP; 10.0.0.1 is private and in no country.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { NS, accessPolicy, client, organization } from '../../support/objects.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { GeoLocator, shippedGeoDatabase } from '../../../server/risk/geo.ts';

let gh: TestServer;
const secrets: Record<string, string> = {};
const API = 'https://inventory.example';

async function machine(org: string): Promise<void> {
  await gh.put('accesspolicies', accessPolicy(`${org}-inventory`, org, { scopes: [{ scope: 'inventory:read' }] }));
  await gh.put('clients', client(`${org}-sync`, org, { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: [API] }));
  secrets[org] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${org}-sync/secret`)).body.clientSecret;
}

async function token(org: string, ip: string): Promise<{ status: number; body: { error?: string; error_description?: string } }> {
  const basic = Buffer.from(`${encodeURIComponent(`${org}-sync.${NS}`)}:${encodeURIComponent(secrets[org]!)}`).toString('base64');
  const res = await fetch(`${gh.url}/${NS}/${org}/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  gh = await startTestServer({ trustedProxies: ['127.0.0.1/32'] });
  await gh.put('organizations', organization('forge', { network: { deniedCountries: ['RU'] } }));
  await gh.put('organizations', organization('cascade', { network: { allowedCountries: ['NL', 'BE'] } }));
  // Below Forge: its own denied country adds to Forge's, never replaces it.
  await gh.put('organizations', organization('forge-east', { parentRef: { name: 'forge' }, network: { deniedCountries: ['JP'] } }));
  // Below Cascade: it cannot admit a country Cascade does not.
  await gh.put('organizations', organization('cascade-us', { parentRef: { name: 'cascade' }, network: { allowedCountries: ['NL', 'US'] } }));
  await gh.put('organizations', organization('both', { network: { allowedCidrs: ['8.8.8.0/24', '193.0.0.0/24'], allowedCountries: ['NL'] } }));
  for (const org of ['forge', 'cascade', 'forge-east', 'cascade-us', 'both']) await machine(org);
}, 60_000);
afterAll(async () => {
  await gh.close();
});

describe('deniedCountries', () => {
  it('refuses an address the database places in a denied country, audited with the country', async () => {
    const res = await token('forge', '5.255.255.5');
    expect(res).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect(res.body.error_description).toContain('5.255.255.5 (RU)');
    const [record] = (await gh.admin('GET', '/admin/v1/audit?action=access.refused-country&limit=1')).body.items;
    expect(record).toMatchObject({ organization: 'forge', outcome: 'refused', data: { address: '5.255.255.5', country: 'RU', path: '/token' } });
  });

  it('lets every other country through, and addresses in no country', async () => {
    for (const ip of ['8.8.8.8', '193.0.0.1', '1.0.16.1', '10.0.0.1']) expect((await token('forge', ip)).status).toBe(200);
  });

  it("is inherited: a sub-organization denies its parent's countries and its own", async () => {
    expect((await token('forge-east', '5.255.255.5')).status).toBe(403);
    expect((await token('forge-east', '1.0.16.1')).status).toBe(403);
    expect((await token('forge-east', '8.8.8.8')).status).toBe(200);
  });
});

describe('the API gateway decision endpoint', () => {
  it('denies a forge token presented from a denied country, and allows it from elsewhere', async () => {
    const basic = Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(secrets.forge!)}`).toString('base64');
    const issued = await fetch(`${gh.url}/${NS}/forge/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'inventory:read' }) });
    const { access_token: token } = (await issued.json()) as { access_token: string };
    const decide = async (ip: string) => {
      const res = await fetch(`${gh.url}/${NS}/forge/authorize`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ token, method: 'GET', path: '/inventory/1' }) });
      return (await res.json()) as { allow: boolean; reason?: string };
    };
    expect(await decide('5.255.255.5')).toMatchObject({ allow: false, reason: 'network' });
    // From elsewhere the network passes: what it decides next is the path (no api entry opens it here).
    expect((await decide('8.8.8.8')).reason).not.toBe('network');
  });
});

describe('allowedCountries', () => {
  it('admits only the declared countries; an address in no country is refused', async () => {
    expect((await token('cascade', '193.0.0.1')).status).toBe(200);
    for (const ip of ['8.8.8.8', '10.0.0.1']) expect((await token('cascade', ip)).status).toBe(403);
  });

  it('cannot be widened below: a sub-organization admits only what its parent admits too', async () => {
    expect((await token('cascade-us', '193.0.0.1')).status).toBe(200);
    expect((await token('cascade-us', '8.8.8.8')).status).toBe(403);
    expect((await gh.admin('GET', `/admin/v1/namespaces/${NS}/organizations/cascade-us/effective`)).body.allowedCountries).toEqual({ value: ['NL'], source: 'organization' });
  });

  it('is checked beside allowedCidrs: an address must pass both', async () => {
    expect((await token('both', '193.0.0.1')).status).toBe(200);
    expect((await token('both', '8.8.8.8')).status).toBe(403);
    expect((await token('both', '5.255.255.5')).status).toBe(403);
    const actions = (await gh.admin('GET', '/admin/v1/audit?organization=both&action=access.*')).body.items.map((r: { action: string }) => r.action);
    expect(actions).toEqual(['access.refused-network', 'access.refused-country']);
  });

  it('refuses the sign-in page as a page', async () => {
    const res = await fetch(`${gh.url}/${NS}/cascade/auth?client_id=x&response_type=code`, { headers: { 'x-forwarded-for': '8.8.8.8' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/html/);
    expect(await res.text()).toContain('8.8.8.8 (US)');
  });
});

describe('the country database', () => {
  const geo = new GeoLocator();

  it('is the one @ip-location-db/geo-whois-asn-country-mmdb ships, read offline', () => {
    expect(geo.path).toBe(createRequire(import.meta.url).resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb'));
    expect(shippedGeoDatabase()).toBe(geo.path);
    expect(geo.builtAt().getTime()).toBeGreaterThan(Date.parse('2025-01-01'));
  });

  it.each([
    ['193.0.0.1', 'NL'],
    ['8.8.8.8', 'US'],
    ['5.255.255.5', 'RU'],
    ['1.0.16.1', 'JP'],
    ['::ffff:193.0.0.1', 'NL'],
    ['2a00:1450::1', 'IE'],
  ])('places %s in %s', (ip, country) => {
    expect(geo.country(ip)).toBe(country);
  });

  it.each([['10.0.0.1'], ['127.0.0.1'], ['not an address'], ['']])('places %j in no country', (ip) => {
    expect(geo.country(ip)).toBeUndefined();
  });

  it('can be another file (GATEHOUSE_GEOIP_DB): here the IPv4-only one, which knows no IPv6 address', () => {
    const v4 = new GeoLocator(createRequire(import.meta.url).resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv4.mmdb'));
    expect(v4.country('193.0.0.1')).toBe('NL');
    expect(v4.country('2a00:1450::1')).toBeUndefined();
  });

  it('stops the server from starting when the configured file cannot be read', async () => {
    await expect(startTestServer({ geoipDb: '/nonexistent/GeoLite2-Country.mmdb' })).rejects.toThrow(/ENOENT/);
  });
});
