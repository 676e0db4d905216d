import { extname } from 'node:path';

/**
 * The URL of the module `name` beside `base` (an `import.meta.url`), with base's own extension.
 * Worker threads are started from a URL, which tsc does not rewrite: run from the sources the
 * sibling is `name.ts`, run from dist/ (the published package) it is `name.js`.
 */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${extname(new URL(base).pathname)}`, base);
}
