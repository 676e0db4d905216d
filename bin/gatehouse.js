#!/usr/bin/env node
// The `gatehouse` command. The same file runs from two places:
// - dist/bin/gatehouse.js, the package's bin (`npm run build` copies it there): it runs the
//   JavaScript tsc built beside it. An installed package has no .ts sources, and Node does
//   not strip types under node_modules anyway (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING).
// - bin/gatehouse.js in the checkout (npm start, the tests, and `npx gatehouse` while there is
//   no build: "prepare" links dist/bin/gatehouse.js here): it runs the TypeScript sources
//   directly, so developing needs no build step and never runs a stale one.
// Plain JavaScript, so that an older Node gets this message rather than a syntax error.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`gatehouse needs Node.js 22.19 or newer; this is ${process.version}.\n` + 'Inside the checkout, run it through npm (npm start, npx gatehouse …), which uses the Node 24 the project installs.');
  process.exit(1);
}
const built = new URL('../cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../cli/main.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
