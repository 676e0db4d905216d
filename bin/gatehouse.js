#!/usr/bin/env node
// Gatehouse runs its TypeScript sources directly (Node's type stripping, Node >= 22.18).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(
    `gatehouse needs Node.js 22.18 or newer; this is ${process.version}.\n` +
      'Inside the checkout, run it through npm (npm start, npx gatehouse …), which uses the Node 24 the project installs.',
  );
  process.exit(1);
}
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
