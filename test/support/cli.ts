import { main } from '../../cli/main.ts';

/**
 * Runs `gatehouse …` in this process through the binary's own dispatch (cli/main.ts), with only
 * the PATH of the tests plus `env`, as `gatehouse()` from ./process.ts would: same exit code,
 * same output (stdout and stderr interleaved, and each on its own), without starting Node per
 * case. For commands that end by themselves; each command's spec still spawns the real binary once.
 */
export async function gatehouseInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string; stdout: string; stderr: string }> {
  let output = '';
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    env: { PATH: process.env.PATH, ...env },
    stdout: (text) => void ((output += text), (stdout += text)),
    stderr: (text) => void ((output += text), (stderr += text)),
  });
  return { code, output, stdout, stderr };
}
