import { spawn, type ChildProcess } from 'node:child_process';

export interface RunningCommand {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr, or rejects after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code once the process ends by itself. */
  exit(): Promise<number | null>;
}

/** Starts `node bin/gatehouse.js …` with the Node running the tests (the project's Node 24). */
export function gatehouse(args: string[], env: NodeJS.ProcessEnv): RunningCommand {
  return nodeScript('bin/gatehouse.js', args, env);
}

/** Starts `node <script> …` (a .js or, on Node 24, a .ts file) with the Node running the tests. */
export function nodeScript(script: string, args: string[], env: NodeJS.ProcessEnv): RunningCommand {
  return command(process.execPath, [script, ...args], { env });
}

/** Starts an executable with only the PATH of the tests plus `env` (which may replace the PATH). */
export function command(file: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningCommand {
  const child = spawn(file, args, { env: { PATH: process.env.PATH, ...options.env }, ...(options.cwd ? { cwd: options.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor(pattern, ms = 15000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${out}`));
        }, ms);
        waiters.add(check);
        exited.then(() =>
          setTimeout(() => {
            if (waiters.has(check)) {
              waiters.delete(check);
              clearTimeout(timer);
              reject(new Error(`process exited before printing ${pattern}; output:\n${out}`));
            }
          }, 50),
        );
        check();
      });
    },
    exit: () => exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
