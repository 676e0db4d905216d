import { readFileSync } from 'node:fs';
import { findPackageJSON } from 'node:module';

/**
 * Gatehouse's own version, which is also the plugin's: the SDK asks the engine for this version of
 * `pulumi-resource-gatehouse`. Found from this module, so it holds in the sources as in dist/.
 */
export function providerVersion(): string {
  const path = findPackageJSON('..', import.meta.url);
  const pkg = (path === undefined ? {} : JSON.parse(readFileSync(path, 'utf8'))) as { name?: unknown; version?: unknown };
  if (pkg.name !== 'gatehouse' || typeof pkg.version !== 'string') throw new Error(`no package.json of gatehouse above ${import.meta.url}`);
  return pkg.version;
}
