import { describe, expect, it } from '@jest/globals';
import { matchesFingerprint, secretFingerprint } from '../../client/secret-fingerprint.ts';

describe('secret fingerprints', () => {
  const data = { 'client-secret': 's3cr3t-value-4411', 'other-key': 'v' };

  it('match the same data in any key order, and nothing else', async () => {
    const fp = await secretFingerprint(data);
    expect(await matchesFingerprint(fp, { 'other-key': 'v', 'client-secret': 's3cr3t-value-4411' })).toBe(true);
    expect(await matchesFingerprint(fp, { ...data, 'client-secret': 's3cr3t-value-4412' })).toBe(false);
    expect(await matchesFingerprint(fp, { 'client-secret': 's3cr3t-value-4411' })).toBe(false);
    expect(await matchesFingerprint(fp, { ...data, extra: '' })).toBe(false);
    expect(await matchesFingerprint(fp, { 'client-secreT': 's3cr3t-value-4411', 'other-key': 'v' })).toBe(false);
  });

  it('are salted: two fingerprints of the same data differ, and neither contains the value', async () => {
    const [a, b] = [await secretFingerprint(data), await secretFingerprint(data)];
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    for (const fp of [a, b]) expect(fp).not.toContain('s3cr3t');
    // A given salt is deterministic, so the reader can recompute.
    const salt = Buffer.alloc(16, 7);
    expect(await secretFingerprint(data, salt)).toBe(await secretFingerprint(data, salt));
  });

  it('refuse forged or unknown formats instead of hashing with their parameters', async () => {
    const fp = await secretFingerprint(data);
    const [, , , , salt, hash] = fp.split('$');
    for (const forged of [`scrypt$${1 << 22}$8$1$${salt}$${hash}`, `scrypt$16383$8$1$${salt}$${hash}`, `scrypt$16384$64$1$${salt}$${hash}`, `sha256$16384$8$1$${salt}$${hash}`, `scrypt$16384$8$1$${salt}$${hash}AA`, '', 'scrypt']) {
      expect(await matchesFingerprint(forged, data)).toBe(false);
    }
  });
});
