import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const VERSION = 'v1';
const MIN_KEY_LENGTH = 32;

/**
 * Encrypts secrets at rest (client secrets, signing keys) with AES-256-GCM under a key
 * derived from GATEHOUSE_SECRET_KEY. Each sealed value names the key that sealed it, so
 * opening with another key fails with a message instead of garbage.
 */
export class Sealer {
  private readonly key: Buffer;
  readonly keyId: string;

  constructor(secret: string) {
    if (secret.length < MIN_KEY_LENGTH) {
      throw new Error(`GATEHOUSE_SECRET_KEY is too short: use at least ${MIN_KEY_LENGTH} random characters (for example: openssl rand -base64 48)`);
    }
    this.key = Buffer.from(hkdfSync('sha256', secret, 'gatehouse', 'secrets at rest v1', 32));
    this.keyId = createHash('sha256').update(this.key).digest('hex').slice(0, 8);
  }

  /** A key for another purpose (e.g. signing cookies), derived so every replica with the same secret agrees. */
  derive(purpose: string): string {
    return Buffer.from(hkdfSync('sha256', this.key, 'gatehouse', purpose, 32)).toString('base64url');
  }

  /** `context` binds the ciphertext to where it is stored, so a sealed value cannot be moved to another row. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.keyId, iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [version, keyId, iv, ct, tag] = sealed.split('.');
    if (version !== VERSION || !iv || !ct || !tag) throw new Error(`a sealed ${context} is not in a format this server reads`);
    if (keyId !== this.keyId) {
      throw new Error(`a sealed ${context} was encrypted with another GATEHOUSE_SECRET_KEY (key id ${keyId}, this server has ${this.keyId})`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`a sealed ${context} failed its integrity check: it was altered in the store`);
    }
  }
}

/**
 * The at-rest key: GATEHOUSE_SECRET_KEY, or for a single embedded server a key file
 * generated once under the data directory (readable by its owner only). Several
 * replicas must share one key, so PostgreSQL deployments must set the variable.
 */
export function loadSealer(env: { GATEHOUSE_SECRET_KEY?: string | undefined; DATABASE_URL?: string | undefined }, keyFile: string): { sealer: Sealer; source: 'environment' | 'file' | 'generated' } {
  const existing = readSealer(env, undefined);
  if (existing) return { sealer: existing, source: 'environment' };
  if (env.DATABASE_URL) {
    throw new Error('GATEHOUSE_SECRET_KEY must be set when DATABASE_URL is: every replica needs the same key to read secrets (for example: openssl rand -base64 48)');
  }
  const fromFile = readSealer({}, keyFile);
  if (fromFile) return { sealer: fromFile, source: 'file' };
  mkdirSync(dirname(keyFile), { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(keyFile, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(keyFile, 0o600);
  return { sealer: new Sealer(secret), source: 'generated' };
}

/**
 * The at-rest key if one is there — GATEHOUSE_SECRET_KEY, else the embedded server's key
 * file — and never a new one: for tools that read what a server wrote (audit verification).
 */
export function readSealer(env: { GATEHOUSE_SECRET_KEY?: string | undefined }, keyFile: string | undefined): Sealer | undefined {
  if (env.GATEHOUSE_SECRET_KEY) return new Sealer(env.GATEHOUSE_SECRET_KEY);
  if (keyFile && existsSync(keyFile)) return new Sealer(readFileSync(keyFile, 'utf8').trim());
  return undefined;
}
