// A bare oidc-provider (in-memory adapter, ES256 JWT access tokens): the peer Gatehouse is measured against.
// BENCH_BARE_SIGNER=gatehouse gives it Gatehouse's signer (server/oidc/signer.ts) in place of its own,
// to tell how much of the ratio is Gatehouse's signing and how much the rest of Gatehouse.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';
import { LocalSigningKey } from '../../server/oidc/signer.ts';

const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const audience = 'https://inventory.example';
const provider = new Provider(url, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret-bench-secret-bench-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'inventory:read' }],
  jwks: { keys: [process.env.BENCH_BARE_SIGNER === 'gatehouse' ? new LocalSigningKey(jwk as Record<string, unknown>, 'bench', 'ES256') : ({ ...jwk, kid: 'bench', alg: 'ES256', use: 'sig' } as never)] },
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  scopes: ['openid', 'inventory:read'],
  features: {
    devInteractions: { enabled: false },
    ...(process.env.BENCH_BARE_SIGNER === 'gatehouse' ? { externalSigningSupport: { enabled: true, ack: 'experimental-01' } } : {}),
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      getResourceServerInfo: () => ({ scope: 'inventory:read', audience, accessTokenTTL: 900, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
});
server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ tokenUrl: `${url}/token`, clientId: 'bench', clientSecret: 'bench-secret-bench-secret-bench-secret' })}\n`);
process.on('SIGTERM', () => process.exit(0));
