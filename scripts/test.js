// `npm test`: the type-check and the specs at the same time. The specs spend much of their time
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

const [typecheck, specs] = await Promise.all([
  run(['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], false),
  run(['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', ...process.argv.slice(2)], true),
]);

if (typecheck.code !== 0) {
  process.stdout.write(`\ntsc --noEmit -p . failed:\n${typecheck.output}\n`);
  const closing = [...specs.output.matchAll(CLOSING)].at(-1);
  process.stdout.write(closing ? `tests: ${closing[1]} passed, ${Number(closing[2]) + 1} failed${closing[3]}\n` : 'tests: 0 passed, 1 failed\n');
}
process.exitCode = specs.code || typecheck.code;
