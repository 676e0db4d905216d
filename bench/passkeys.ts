// npm run bench:passkeys — the server's verification of passkey ceremonies: a registration
// (Passkeys.register: the challenge taken from the store, @simplewebauthn's verification, the
// credential stored, the enrolment audited) and a sign-in (Passkeys.authenticate: the challenge,
// the credential read, verification, the counter moved forward in one conditional UPDATE), on
// the server's own wiring (createApp, SQLite in a temporary directory). Beside each, the bare
// @simplewebauthn verification of the same kind of answer, in the same run: the ratio is what
// the store round trips and the audit add. The answers come from the specs' software
// authenticator (ES256, attestation none) and are made outside the timed part.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { createApp } from '../server/app.ts';
import { systemClock } from '../server/clock.ts';
import { silentLogger } from '../server/log.ts';
import { relyingPartyOf } from '../server/passkeys/service.ts';
import { Sealer } from '../server/secrets/sealer.ts';
import { openStore } from '../server/store/index.ts';
import type { UserRecord } from '../server/store/index.ts';
import { SoftAuthenticator } from '../test/support/authenticator.ts';

const N = Number(process.env.BENCH_ITERATIONS ?? 500);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 50);
const ORIGIN = 'https://sso.bench.example';

const dir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-passkeys-'));
const store = await openStore({ dataDir: dir });
const app = createApp({ store, clock: systemClock, logger: silentLogger, sealer: new Sealer('bench-secret-key-0123456789abcdefghijklmnop'), publicUrl: ORIGIN });
const passkeys = app.broker.passkeys;
const rp = relyingPartyOf(`${ORIGIN}/bench/cascade`, 'Cascade');

const now = Date.now();
const user = (i: number): UserRecord => ({ namespace: 'bench', id: `u${i}`, organization: 'cascade', connection: 'directory', subject: `u${i}`, email: `u${i}@cascade.example`, declaredAs: null, profile: {}, roles: [], active: true, passwordHash: null, createdAt: now, updatedAt: now, lastLoginAt: null });

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const summary = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
};
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const results: Record<string, number[]> = { 'register (server)': [], 'register (bare)': [], 'authenticate (server)': [], 'authenticate (bare)': [] };
const authenticators: SoftAuthenticator[] = [];

for (let i = 0; i < WARMUP + N; i++) {
  const record = i >= WARMUP;
  const u = user(i);
  const a = new SoftAuthenticator(ORIGIN);
  authenticators.push(a);
  // Through the server: options (challenge stored), then the timed verification.
  const options = await passkeys.registrationOptions(rp, u);
  const answer = a.register(options);
  const ms = await timed(async () => {
    const r = await passkeys.register(rp, u, answer, 'bench');
    if (!r.ok) throw new Error(`registration refused: ${r.reason} ${r.detail ?? ''}`);
  });
  // Bare: the same verification with nothing around it.
  const bareOptions = await generateRegistrationOptions({ rpName: rp.name, rpID: rp.id, userName: u.email, attestationType: 'none' });
  const bareAnswer = new SoftAuthenticator(ORIGIN).register(bareOptions);
  const bare = await timed(() => verifyRegistrationResponse({ response: bareAnswer, expectedChallenge: bareOptions.challenge, expectedOrigin: ORIGIN, expectedRPID: rp.id, requireUserVerification: false }));
  if (record) {
    results['register (server)']!.push(ms);
    results['register (bare)']!.push(bare);
  }
}

for (let i = 0; i < WARMUP + N; i++) {
  const record = i >= WARMUP;
  const u = user(i);
  const a = authenticators[i]!;
  const options = await passkeys.authenticationOptions(rp, 'bench', u);
  const answer = a.authenticate(options);
  const ms = await timed(async () => {
    const r = await passkeys.authenticate(rp, 'bench', answer, { organization: 'cascade', user: u });
    if (!r.ok) throw new Error(`sign-in refused: ${r.reason} ${r.detail ?? ''}`);
  });
  const stored = (await store.passkeys.find(a.credentials[0]!.id))!;
  const bareOptions = await generateAuthenticationOptions({ rpID: rp.id, userVerification: 'preferred' });
  const bareAnswer = a.authenticate(bareOptions);
  const bare = await timed(() => verifyAuthenticationResponse({ response: bareAnswer, expectedChallenge: bareOptions.challenge, expectedOrigin: ORIGIN, expectedRPID: rp.id, credential: { id: stored.id, publicKey: isoBase64URL.toBuffer(stored.publicKey), counter: stored.counter, transports: stored.transports } }));
  if (record) {
    results['authenticate (server)']!.push(ms);
    results['authenticate (bare)']!.push(bare);
  }
}

await app.audit.close();
await store.close();
await rm(dir, { recursive: true, force: true });

console.log(`passkey verification, ${N} of each after ${WARMUP} warm-up (ES256, attestation none, SQLite in ${tmpdir()})`);
console.log('| ceremony | p50 ms | p99 ms |');
console.log('|---|---|---|');
for (const [name, samples] of Object.entries(results)) {
  const { p50, p99 } = summary(samples);
  console.log(`| ${name} | ${p50.toFixed(2)} | ${p99.toFixed(2)} |`);
}
for (const kind of ['register', 'authenticate']) {
  const server = summary(results[`${kind} (server)`]!).p50;
  const bare = summary(results[`${kind} (bare)`]!).p50;
  console.log(`${kind}: server / bare p50 = ${(server / bare).toFixed(2)}`);
}
process.exit(0);
