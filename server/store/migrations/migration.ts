import type { Dialect } from '../sql.ts';

/** One step of the schema's history: the statements that take a store from the version before to this one. */
export interface Migration {
  version: number;
  description: string;
  statements(dialect: Dialect): string[];
}
