/**
 * The two store backends, for specifications that must hold on both: the embedded SQLite
 * file and PostgreSQL (one throwaway server per spec file, from the machine's binaries; its
 * specs are skipped, visibly, when there are none). Call it at module level, with top-level
 * await, so the file knows at collection time which backends it can run:
 *
 *   const backends = await storeBackends();
 *   backends.each('the users repository', (backend) => {
 *     it('…', async () => {
 *       const store = await backends.fresh(backend);   // an empty store, closed after the test
 *     });
 *   });
 */
import { afterAll, afterEach, describe } from '@jest/globals';
import { openStore, type Store, type StoreOptions } from '../../server/store/index.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';
import { temporaryDirectories } from './temp-dirs.ts';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Where a new, empty store lives. */
  fresh(): Promise<StoreOptions>;
  /** Several processes may open the same database at once (replicas). */
  sharedByReplicas: boolean;
}

export interface StoreBackends {
  /** The file's PostgreSQL server, if the machine has the binaries. */
  server: PostgresServer | undefined;
  /** Opens a store (migrating it); every store opened is closed after its test. */
  open(options: StoreOptions): Promise<Store>;
  /** An empty store on the backend. */
  fresh(backend: Backend): Promise<Store>;
  /** `describe`s `spec` once per backend, as "<title> on <backend>". */
  each(title: string, spec: (backend: Backend) => void): void;
}

export async function storeBackends(): Promise<StoreBackends> {
  const tempDir = temporaryDirectories('gatehouse-store-');
  // One server (and one database) for the whole file; a fresh schema for each store,
  // which the store sees as an empty database and which takes milliseconds to make.
  const server = await startPostgres();
  afterAll(async () => {
    await server?.stop();
  });

  const sqlite: Backend = { name: 'sqlite', sharedByReplicas: false, fresh: async () => ({ dataDir: await tempDir() }) };
  const postgres: Backend = {
    name: 'postgres',
    sharedByReplicas: true,
    async fresh() {
      if (!server) throw new Error('no PostgreSQL server');
      return { databaseUrl: await server.createSchema() };
    },
  };

  const opened: Store[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  const open = async (options: StoreOptions): Promise<Store> => {
    const store = await openStore(options);
    opened.push(store);
    return store;
  };

  return {
    server,
    open,
    fresh: async (backend) => open(await backend.fresh()),
    each(title, spec) {
      describe.each(server ? [sqlite, postgres] : [sqlite])(`${title} on $name`, spec);
      if (!server) describe.skip.each([postgres])(`${title} on $name`, spec);
    },
  };
}
