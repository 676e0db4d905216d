import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sealer, loadSealer } from '../../../server/secrets/sealer.ts';

const KEY = 'a-test-key-that-is-long-enough-0123456789';

describe('Sealer', () => {
  it('round-trips a secret, and never stores it readable', () => {
    const sealer = new Sealer(KEY);
    const sealed = sealer.seal('hunter2-but-longer', 'client-secret:ns/app');
    expect(sealed).not.toContain('hunter2');
    expect(sealer.open(sealed, 'client-secret:ns/app')).toBe('hunter2-but-longer');
  });

  it('seals the same secret differently each time', () => {
    const sealer = new Sealer(KEY);
    expect(sealer.seal('x', 'c')).not.toBe(sealer.seal('x', 'c'));
  });

  it('refuses a value moved to another row (the context is authenticated)', () => {
    const sealer = new Sealer(KEY);
    const sealed = sealer.seal('secret', 'client-secret:ns/app');
    expect(() => sealer.open(sealed, 'client-secret:ns/other-app')).toThrow('failed its integrity check');
  });

  it('refuses a tampered value', () => {
    const sealer = new Sealer(KEY);
    const parts = sealer.seal('secret', 'c').split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => sealer.open(parts.join('.'), 'c')).toThrow('failed its integrity check');
  });

  it('names the key mismatch instead of returning garbage', () => {
    const sealed = new Sealer(KEY).seal('secret', 'c');
    expect(() => new Sealer(`${KEY}-other`).open(sealed, 'c')).toThrow(/encrypted with another GATEHOUSE_SECRET_KEY/);
  });

  it('refuses a short key', () => {
    expect(() => new Sealer('short')).toThrow('GATEHOUSE_SECRET_KEY is too short');
  });
});

describe('loadSealer', () => {
  it('generates a key file readable by its owner only, then reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-key-'));
    const file = join(dir, 'secret.key');
    const first = loadSealer({}, file);
    expect(first.source).toBe('generated');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const second = loadSealer({}, file);
    expect(second.source).toBe('file');
    expect(second.sealer.keyId).toBe(first.sealer.keyId);
    expect((await readFile(file, 'utf8')).trim().length).toBeGreaterThanOrEqual(32);
  });

  it('insists on GATEHOUSE_SECRET_KEY when replicas share PostgreSQL', () => {
    expect(() => loadSealer({ DATABASE_URL: 'postgres://db/gatehouse' }, '/nonexistent/secret.key')).toThrow('GATEHOUSE_SECRET_KEY must be set when DATABASE_URL is');
  });
});
