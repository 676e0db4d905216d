/**
 * Refused attempts are audited, but a flood cannot fill the log: per window, each source
 * address writes a bounded number of records per kind, the server a bounded number in all,
 * and what was left out is counted in one summary record when the window closes.
 */
import { describe, expect, it } from '@jest/globals';
import { fixedClock } from '../../../server/clock.ts';
import { type DEFAULT_REFUSAL_LIMITS, fingerprint, RefusalAudit, refusedReason } from '../../../server/audit/refusals.ts';
import type { AuditEntry } from '../../../server/store/index.ts';

function auditor(limits: Partial<typeof DEFAULT_REFUSAL_LIMITS> = {}) {
  const clock = fixedClock('2026-12-06T03:00:00Z');
  const written: AuditEntry[] = [];
  const refusals = new RefusalAudit({ append: async (entry) => void written.push(entry), clock, limits: { perSource: 3, overall: 10, windowMs: 60_000, ...limits } });
  const refuse = (address: string, kind: 'token' | 'redirect-uri' = 'token') => refusals.record(kind, address, { actor: 'anonymous', data: { reason: 'unknown' } });
  return { clock, written, refusals, refuse };
}

const actions = (entries: AuditEntry[]) => entries.map((e) => e.action);

describe('RefusalAudit', () => {
  it('records the first refusals of a source, counts the rest, and writes one summary when the window has closed', async () => {
    const { clock, written, refusals, refuse } = auditor();
    for (let i = 0; i < 50; i++) await refuse('198.51.100.7');
    expect(actions(written)).toEqual(Array(3).fill('access.refused-token'));
    expect(written[0]).toMatchObject({ actor: 'anonymous', outcome: 'refused', data: { reason: 'unknown', address: '198.51.100.7' } });
    clock.advance(60_000);
    await refusals.flush();
    expect(written.slice(3)).toEqual([{ action: 'access.refusals-suppressed', actor: 'gatehouse', outcome: 'refused', data: { kind: 'token', address: '198.51.100.7', suppressed: 47, since: '2026-12-06T03:00:00.000Z', until: '2026-12-06T03:01:00.000Z' } }]);
    await refusals.close();
  });

  it('writes the summary before the next record when the source comes back after its window', async () => {
    const { clock, written, refusals, refuse } = auditor();
    for (let i = 0; i < 5; i++) await refuse('198.51.100.7');
    clock.advance(61_000);
    await refuse('198.51.100.7');
    expect(actions(written)).toEqual([...Array(3).fill('access.refused-token'), 'access.refusals-suppressed', 'access.refused-token']);
    expect(written[3]!.data).toMatchObject({ suppressed: 2 });
    await refusals.close();
  });

  it('counts each kind on its own', async () => {
    const { written, refusals, refuse } = auditor();
    for (let i = 0; i < 5; i++) await refuse('198.51.100.7', 'token');
    for (let i = 0; i < 5; i++) await refuse('198.51.100.7', 'redirect-uri');
    expect(actions(written)).toEqual([...Array(3).fill('access.refused-token'), ...Array(3).fill('access.refused-redirect-uri')]);
    await refusals.close();
  });

  it("bounds a flood from many addresses: the server's cap, then one summary of its own", async () => {
    const { clock, written, refusals, refuse } = auditor();
    for (let i = 0; i < 1000; i++) await refuse(`203.0.113.${i % 250}`);
    expect(written).toHaveLength(10);
    clock.advance(60_000);
    await refusals.flush();
    expect(written).toHaveLength(11);
    expect(written[10]).toMatchObject({ action: 'access.refusals-suppressed', data: { kind: 'token', address: '*', suppressed: 990 } });
    await refusals.close();
  });

  it('writes at most perSource + 1 records a window per source, and overall + overall / perSource + 1 in all', async () => {
    const { clock, written, refusals, refuse } = auditor();
    // 20 addresses, each refused 20 times: a worst case for the summaries.
    for (let round = 0; round < 20; round++) for (let a = 0; a < 20; a++) await refuse(`192.0.2.${a}`);
    clock.advance(60_000);
    await refusals.flush();
    const perAddress = new Map<string, number>();
    for (const e of written) perAddress.set(String(e.data.address), (perAddress.get(String(e.data.address)) ?? 0) + 1);
    for (const [address, n] of perAddress) if (address !== '*') expect(n).toBeLessThanOrEqual(3 + 1);
    expect(written.length).toBeLessThanOrEqual(10 + Math.floor(10 / 3) + 1);
    const counted = written.filter((e) => e.action === 'access.refused-token').length + written.reduce((n, e) => n + (e.action === 'access.refusals-suppressed' ? Number(e.data.suppressed) : 0), 0);
    expect(counted).toBe(400);
    await refusals.close();
  });

  it('writes what is still counted when it closes (a server shutting down)', async () => {
    const { written, refusals, refuse } = auditor();
    for (let i = 0; i < 4; i++) await refuse('198.51.100.7');
    await refusals.close();
    expect(written[3]).toMatchObject({ action: 'access.refusals-suppressed', data: { suppressed: 1 } });
  });

  it('keeps a bounded number of sources, writing the summary of the one it drops', async () => {
    const { written, refusals, refuse } = auditor({ perSource: 1, overall: 1000, maxSources: 4 });
    await refuse('192.0.2.1');
    await refuse('192.0.2.1');
    for (let a = 2; a <= 5; a++) await refuse(`192.0.2.${a}`);
    expect(written.find((e) => e.action === 'access.refusals-suppressed')).toMatchObject({ data: { address: '192.0.2.1', suppressed: 1 } });
    await refusals.close();
  });
});

describe('fingerprint', () => {
  it('names a credential by a labelled hash prefix, never the credential', () => {
    const token = 'test-admin-token-0123456789abcdeX';
    expect(fingerprint(token)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(token)).not.toBe(fingerprint(`${token}Y`));
    expect(token).not.toContain(fingerprint(token));
  });
});

describe('refusedReason', () => {
  it("names jose's failures", () => {
    expect(refusedReason({ code: 'ERR_JWT_EXPIRED' })).toBe('expired');
    expect(refusedReason({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' })).toBe('unknown-issuer');
    expect(refusedReason(new Error('anything else'))).toBe('malformed');
  });
});
