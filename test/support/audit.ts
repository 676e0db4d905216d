/** What an attacker with write access to the store does to the audit chain, for the specs that must catch it. */
import { GENESIS_HASH, recordHash, type AuditKey, type ChainRecord } from '../../server/audit/chain.ts';
import type { Store } from '../../server/store/index.ts';

/**
 * What someone with write access to the store does after editing records: re-hashes every
 * record from `from` on (with `key` if they hold it, else as the unkeyed chain) and moves the head.
 */
export async function recompute(store: Store, from: number, hashWith: (r: ChainRecord) => AuditKey | undefined): Promise<void> {
  const records: ChainRecord[] = [];
  for await (const r of store.audit.walk()) records.push(r);
  let prev = records[from - 2]?.hash ?? GENESIS_HASH;
  for (const r of records.slice(from - 1)) {
    const { prevHash: _p, hash: _h, ...fields } = r;
    const hash = recordHash(prev, fields, hashWith(r));
    await store.driver.run('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?', [prev, hash, r.seq]);
    prev = hash;
  }
  await store.driver.run('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [records.length, prev]);
}
