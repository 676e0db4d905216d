import { resolve } from 'node:path';
import type { StoreOptions } from '../server/store/index.ts';
import type { Config } from './config.ts';

/** The store `gatehouse serve` uses, from the same configuration: DATABASE_URL, else GATEHOUSE_DATA_DIR. */
export function storeOptionsFrom(config: Pick<Config, 'DATABASE_URL' | 'GATEHOUSE_DATA_DIR'>): StoreOptions {
  return config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : { dataDir: resolve(config.GATEHOUSE_DATA_DIR) };
}
