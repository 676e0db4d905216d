// `npm test`: the type-check, the formatter and linter (Biome) and the specs at the same time. The specs spend much of their time
// waiting on servers and child processes, so tsc fits in their gaps instead of delaying the first.
// Arguments go to jest (`npm test -- test/cli`). Exits non-zero when either fails; a type error
// counts as one more failure in the closing "tests: N passed, N failed" line CI reads.
import { spawn } from 'node:child_process';

const CLOSING = /^tests: (\d+) passed, (\d+) failed(.*)$/gm;

/** Runs node with `args`; `echo` passes the output through as it comes, otherwise it is kept for later. */
function run(args, echo) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (echo) process.stdout.write(chunk);
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
    if (echo) process.stderr.write(chunk);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output })));
}

const [typecheck, style, specs] = await Promise.all([
  run(['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], false),
  // `biome ci`: formatting and lint rules (biome.json), read-only; `npm run format` fixes what it can.
  run(['node_modules/@biomejs/biome/bin/biome', 'ci', '--reporter=summary', '.'], false),
  run(['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', ...process.argv.slice(2)], true),
]);

const failed = [...(typecheck.code !== 0 ? [['tsc --noEmit -p .', typecheck.output]] : []), ...(style.code !== 0 ? [['biome ci (run `npm run format` to fix formatting; lint findings name the rule)', style.output]] : [])];
for (const [what, output] of failed) process.stdout.write(`\n${what} failed:\n${output}\n`);
if (failed.length > 0) {
  const closing = [...specs.output.matchAll(CLOSING)].at(-1);
  process.stdout.write(closing ? `tests: ${closing[1]} passed, ${Number(closing[2]) + failed.length} failed${closing[3]}\n` : `tests: 0 passed, ${failed.length} failed\n`);
}
process.exitCode = specs.code || typecheck.code || style.code;
