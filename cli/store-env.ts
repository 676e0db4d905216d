import { resolve } from 'node:path';
import type { StoreOptions } from '../server/store/index.ts';

/** The store `gatehouse serve` uses, from the same environment: DATABASE_URL, else GATEHOUSE_DATA_DIR (default ./data). */
export function storeOptionsFrom(env: NodeJS.ProcessEnv): StoreOptions {
  return env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : { dataDir: resolve(env.GATEHOUSE_DATA_DIR ?? './data') };
}
