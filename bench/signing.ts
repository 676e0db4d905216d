// npm run bench:signing — what one ES256 signature costs the event loop, made each way the token
// path could make it: WebCrypto (oidc-provider's own path, through jose), node:crypto with an
// options object, node:crypto with a bare KeyObject (server/oidc/signer.ts), and on the event loop.
// 32 signatures in flight, as under the token benchmark's load; event-loop CPU from
// process.threadCpuUsage, wall time per signature across the pool.
import { generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { LocalSigningKey } from '../server/oidc/signer.ts';

const N = Number(process.env.BENCH_SIGNATURES ?? 20_000);
const IN_FLIGHT = 32;
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = privateKey.export({ format: 'jwk' });
const cryptoKey = await webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const gatehouse = new LocalSigningKey(jwk as Record<string, unknown>, 'bench', 'ES256');
const data = Buffer.alloc(400, 7); // about a JWT access token's signing input

const ways: Record<string, () => Promise<unknown>> = {
  'WebCrypto (crypto.subtle.sign)': () => webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, cryptoKey, data),
  'crypto.sign, { key, dsaEncoding }, callback': () => new Promise((resolve, reject) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }, (error, signature) => (error ? reject(error) : resolve(signature)))),
  'LocalSigningKey (KeyObject, callback, DER → r‖s)': async () => gatehouse.sign(data),
  'crypto.sign on the event loop': async () => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
};

console.log(`ES256, ${N} signatures per way, ${IN_FLIGHT} in flight, Node ${process.version}`);
console.log(`${'way'.padEnd(52)} ${'event loop µs'.padStart(14)} ${'wall µs'.padStart(8)}`);
for (let round = 0; round < 3; round++) {
  for (const [name, signOnce] of Object.entries(ways)) {
    let left = N;
    const cpu = process.threadCpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (left-- > 0) await signOnce();
      }),
    );
    const used = process.threadCpuUsage(cpu);
    const wall = ((performance.now() - started) * 1000) / N;
    console.log(`${name.padEnd(52)} ${((used.user + used.system) / N).toFixed(1).padStart(14)} ${wall.toFixed(1).padStart(8)}`);
  }
}
