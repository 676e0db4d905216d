#!/usr/bin/env node
// The native Pulumi provider plugin, `pulumi-resource-gatehouse`. Like bin/gatehouse.js it runs
// the JavaScript built beside it in dist/ (the package's bin), or the TypeScript sources in the
// checkout. Plain JavaScript, so that an older Node gets this message rather than a syntax error.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`pulumi-resource-gatehouse needs Node.js 22.19 or newer; this is ${process.version}.`);
  process.exit(1);
}
const built = new URL('../provider/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../provider/main.ts', import.meta.url).href);
await main(process.argv.slice(2));
