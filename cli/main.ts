import { CONTROLLER_USAGE, controller } from './controller.ts';
import { SERVE_USAGE, serve } from './serve.ts';
import { AUDIT_USAGE, audit } from './audit.ts';
import { ATTEST_USAGE, attest } from './attest.ts';
import { SECRET_USAGE, secret } from './secret.ts';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve [--dir PATH]   start the server (and keep the declarations under PATH applied)
  controller           reconcile a folder of YAML or Kubernetes resources into a server
  audit verify|export  check the audit hash chain of the server's store; export it for a SIEM
  attest [--dir PATH]  attestation report per organization from git history and the audit log
  secret set|show|delete NAMESPACE/NAME
                       supply an upstream IdP secret to the server's write-only store
  help [command]       show help

Run "gatehouse <command> --help" for a command's options.`;

/** Dispatches a subcommand; resolves to the process exit code. Long-running commands resolve when stopped. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const stop = await serve(rest);
        if (rest.includes('--help') || rest.includes('-h')) return 0;
        return await untilSignal(stop);
      }
      case 'controller': {
        const result = await controller(rest);
        if (typeof result === 'number') return result;
        return await untilSignal(result);
      }
      case 'audit':
        return await audit(rest);
      case 'attest':
        return await attest(rest);
      case 'secret':
        return await secret(rest);
      case 'help':
      case '--help':
      case '-h':
      case undefined:
        process.stdout.write(`${rest[0] === 'serve' ? SERVE_USAGE : rest[0] === 'controller' ? CONTROLLER_USAGE : rest[0] === 'audit' ? AUDIT_USAGE : rest[0] === 'attest' ? ATTEST_USAGE : rest[0] === 'secret' ? SECRET_USAGE : USAGE}\n`);
        return command === undefined ? 1 : 0;
      default:
        process.stderr.write(`gatehouse: unknown command "${command}"\n\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    process.stderr.write(`gatehouse ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/**
 * Waits for SIGTERM or SIGINT, then stops: 0 once stopped in order, 1 when stopping failed or
 * overran its deadline. A second signal exits at once. Exits even if a stray handle would keep
 * the process alive, so an orchestrator never has to kill it.
 */
function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting without waiting\n`);
        process.exit(1);
      }
      stopping = true;
      process.stdout.write(`\n${signal}: stopping\n`);
      stop().then(
        () => resolve(0),
        (error: unknown) => {
          process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
          resolve(1);
        },
      ).finally(() => setTimeout(() => process.exit(), 2000).unref());
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
