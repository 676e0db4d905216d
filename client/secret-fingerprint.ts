import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Part of the admin API's wire contract, shared by the server (which computes it) and its
 * clients (which compare it); it lives here, not in api/, because api/ imports only zod.
 *
 * The fingerprint the server returns for a write-only secret (`GET …/secrets/{name}`), so a
 * writer that holds the data can tell whether the server already has exactly that, without the
 * server ever returning a value. Format: `scrypt$N$r$p$<salt>$<hash>` (base64url), a fresh random
 * salt per write. A slow, salted hash: whoever can read the fingerprint (an admin token) can only
 * test guesses at scrypt's pace, and equal data under two names or two writes never looks alike.
 */
export const FINGERPRINT_PARAMS = { N: 16384, r: 8, p: 1 } as const;
const PREFIX = 'scrypt';
const KEY_LENGTH = 32;
/** Bounds on parameters read back from a fingerprint, so a forged one cannot make a reader spend unbounded memory or time. */
const MAX_N = 1 << 17;
const MAX_R = 16;
const MAX_P = 4;

/** Key names sorted, so the same data always hashes alike whatever order it was given in. */
function canonical(data: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(data)
      .sort()
      .map((k) => [k, data[k]]),
  );
}

function hash(data: Record<string, string>, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(canonical(data), salt, KEY_LENGTH, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** A new fingerprint of `data` (fresh salt unless one is given, for tests). */
export async function secretFingerprint(data: Record<string, string>, salt: Buffer = randomBytes(16)): Promise<string> {
  const { N, r, p } = FINGERPRINT_PARAMS;
  const key = await hash(data, salt, FINGERPRINT_PARAMS);
  return [PREFIX, N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `fingerprint` is of exactly `data` (same keys, same values). False for a fingerprint in a format this version does not read. */
export async function matchesFingerprint(fingerprint: string, data: Record<string, string>): Promise<boolean> {
  const [prefix, n, r, p, salt, key] = fingerprint.split('$');
  if (prefix !== PREFIX || salt === undefined || key === undefined) return false;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const valid = Number.isInteger(params.N) && params.N > 1 && params.N <= MAX_N && (params.N & (params.N - 1)) === 0 && Number.isInteger(params.r) && params.r >= 1 && params.r <= MAX_R && Number.isInteger(params.p) && params.p >= 1 && params.p <= MAX_P;
  if (!valid) return false;
  const expected = Buffer.from(key, 'base64url');
  if (expected.length !== KEY_LENGTH) return false;
  return timingSafeEqual(await hash(data, Buffer.from(salt, 'base64url'), params), expected);
}
