import type { SqlExecutor } from '../sql.ts';

/** One WebAuthn credential (a passkey or a security key) of one user of one organization. */
export interface PasskeyRecord {
  /** The credential ID, base64url, as the authenticator made it: unique across the server. */
  id: string;
  namespace: string;
  organization: string;
  userId: string;
  /** The relying party it was made for: the host of the issuer it was enrolled at. */
  rpId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter at the last use (0: the authenticator keeps none). */
  counter: number;
  transports: string[];
  /** The user's own name for it. */
  name: string;
  aaguid: string;
  /** `singleDevice`: bound to one authenticator (hardware); `multiDevice`: synced (a passkey provider). */
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

interface PasskeyRow {
  credential_id: string;
  namespace: string;
  organization: string;
  user_id: string;
  rp_id: string;
  public_key: string;
  counter: number | string;
  transports: string;
  name: string;
  aaguid: string;
  device_type: string;
  backed_up: number | string;
  created_at: number | string;
  last_used_at: number | string | null;
}

const COLUMNS = 'credential_id, namespace, organization, user_id, rp_id, public_key, counter, transports, name, aaguid, device_type, backed_up, created_at, last_used_at';

function toRecord(r: PasskeyRow): PasskeyRecord {
  return {
    id: r.credential_id,
    namespace: r.namespace,
    organization: r.organization,
    userId: r.user_id,
    rpId: r.rp_id,
    publicKey: r.public_key,
    counter: Number(r.counter),
    transports: JSON.parse(r.transports) as string[],
    name: r.name,
    aaguid: r.aaguid,
    deviceType: r.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
    backedUp: Number(r.backed_up) === 1,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

/** Users' passkeys: enrolled, listed, renamed, removed (by the user or an administrator), and their counters moved forward at each use. */
export class PasskeyRepository {
  private readonly db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.db = db;
  }

  /** Stores a new credential; false when its ID is already enrolled (by anyone). */
  async add(p: PasskeyRecord): Promise<boolean> {
    const added = await this.db.run(`INSERT INTO passkeys (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (credential_id) DO NOTHING`, [
      p.id,
      p.namespace,
      p.organization,
      p.userId,
      p.rpId,
      p.publicKey,
      p.counter,
      JSON.stringify(p.transports),
      p.name,
      p.aaguid,
      p.deviceType,
      p.backedUp ? 1 : 0,
      p.createdAt,
      p.lastUsedAt,
    ]);
    return added > 0;
  }

  /** A credential by its ID, whoever it belongs to: the caller checks namespace, organization and user. */
  async find(id: string): Promise<PasskeyRecord | undefined> {
    const row = (await this.db.all<PasskeyRow>(`SELECT ${COLUMNS} FROM passkeys WHERE credential_id = ?`, [id]))[0];
    return row ? toRecord(row) : undefined;
  }

  /** A user's passkeys, oldest first. */
  async list(namespace: string, userId: string): Promise<PasskeyRecord[]> {
    const rows = await this.db.all<PasskeyRow>(`SELECT ${COLUMNS} FROM passkeys WHERE namespace = ? AND user_id = ? ORDER BY created_at, credential_id`, [namespace, userId]);
    return rows.map(toRecord);
  }

  /** How many passkeys a user has (what the sign-in pages ask before offering one). */
  async count(namespace: string, userId: string): Promise<number> {
    const row = (await this.db.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM passkeys WHERE namespace = ? AND user_id = ?`, [namespace, userId]))[0];
    return Number(row?.n ?? 0);
  }

  /** Renames one of the user's passkeys; false when the user has no such passkey. */
  async rename(namespace: string, userId: string, id: string, name: string): Promise<boolean> {
    return (await this.db.run(`UPDATE passkeys SET name = ? WHERE credential_id = ? AND namespace = ? AND user_id = ?`, [name, id, namespace, userId])) > 0;
  }

  /** Removes one of the user's passkeys; false when the user has no such passkey. */
  async remove(namespace: string, userId: string, id: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM passkeys WHERE credential_id = ? AND namespace = ? AND user_id = ?`, [id, namespace, userId])) > 0;
  }

  /** Removes every passkey of a user (erasure, deprovisioning); returns how many went. */
  async removeAll(namespace: string, userId: string): Promise<number> {
    return this.db.run(`DELETE FROM passkeys WHERE namespace = ? AND user_id = ?`, [namespace, userId]);
  }

  /**
   * Records a use whose signature counter is `counter`. The counter must move forward unless
   * both it and the stored one are 0 (an authenticator that keeps none); the check is in the
   * update itself, so two replicas verifying one assertion cannot both succeed. False: the
   * counter went back (or stood still), the sign of a cloned authenticator.
   */
  async recordUse(id: string, counter: number, now: number): Promise<boolean> {
    return (await this.db.run(`UPDATE passkeys SET counter = ?, last_used_at = ? WHERE credential_id = ? AND (counter < ? OR (counter = 0 AND ? = 0))`, [counter, now, id, counter, counter])) > 0;
  }
}
