/**
 * A write-only secret (an upstream IdP's client secret, say) as the admin API describes it:
 * its keys and when it changed, never a value.
 */
export interface SecretDescription {
  name: string;
  namespace: string;
  keys: string[];
  updatedAt: string;
  /**
   * A salted scrypt hash of the data (client/secret-fingerprint.ts): a writer compares it with
   * `matchesFingerprint` and skips a write that would change nothing. Never the value. Absent
   * for secrets stored before fingerprints existed.
   */
  fingerprint?: string;
}
