import { describe, expect, it } from '@jest/globals';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { certificateSerial, selfSignedKeyPair } from '../../demo/peers/self-signed.ts';

describe('a demo IdP key pair made in memory', () => {
  const made = selfSignedKeyPair('pinnacle-idp (Gatehouse demo and tests only)', 30);
  const cert = new X509Certificate(made.cert);

  it('is a certificate node:crypto parses, self-signed by its own key', () => {
    expect(cert.subject).toBe('CN=pinnacle-idp (Gatehouse demo and tests only)');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(made.key))).toBe(true);
  });

  it('is valid from now for the days asked', () => {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    expect(Math.abs(from - Date.now())).toBeLessThan(5 * 60_000);
    expect(Math.round((to - from) / 86_400_000)).toBe(30);
  });

  it('is different in every call, so no key is shared or committed', () => {
    const other = selfSignedKeyPair('pinnacle-idp (Gatehouse demo and tests only)', 30);
    expect(
      createPublicKey(other.key)
        .export({ type: 'spki', format: 'der' })
        .equals(cert.publicKey.export({ type: 'spki', format: 'der' })),
    ).toBe(false);
    expect(new X509Certificate(other.cert).serialNumber).not.toBe(cert.serialNumber);
  });

  it('has a serial number OpenSSL accepts whatever the random bytes (positive, no leading zero byte)', () => {
    // Random bytes starting 0x00 0x10 once gave "illegal padding" (a flaky SAML spec, ~1 key in 256).
    for (const first of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
      const serial = certificateSerial(Buffer.from([first, 0x10, ...Array(14).fill(0xab)]));
      expect(serial).toHaveLength(16);
      expect(serial[0]).toBeGreaterThan(0);
      expect(serial[0]).toBeLessThan(0x80);
    }
  });
});
