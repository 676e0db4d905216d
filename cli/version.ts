import { readFileSync } from 'node:fs';
import { findPackageJSON } from 'node:module';

/**
 * The version in Gatehouse's own package.json. Found from this module rather than by a fixed
 * relative path, which differs between the sources (cli/) and the build (dist/cli/).
 */
export function packageVersion(): string {
  const path = findPackageJSON('..', import.meta.url);
  const pkg: unknown = path === undefined ? undefined : JSON.parse(readFileSync(path, 'utf8'));
  const { name, version } = (pkg ?? {}) as { name?: unknown; version?: unknown };
  if (name !== 'gatehouse' || typeof version !== 'string') throw new Error(`no package.json of gatehouse above ${import.meta.url}`);
  return version;
}
