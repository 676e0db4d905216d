import { CONTROLLER_USAGE, controller } from './controller.ts';
import { SERVE_USAGE, serve } from './serve.ts';
import { AUDIT_USAGE, audit } from './audit.ts';
import { ATTEST_USAGE, attest } from './attest.ts';
import { SECRET_USAGE, secret } from './secret.ts';
import { PLAN_USAGE, plan } from './plan.ts';
import { EXPORT_USAGE, exportCommand } from './export.ts';
import { NOTIFICATIONS_USAGE, notifications } from './notifications.ts';
import { packageVersion } from './version.ts';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve [--dir PATH]   start the server (and keep the declarations under PATH applied)
  controller           reconcile a folder of YAML or Kubernetes resources into a server
  plan --dir PATH      what applying a folder of YAML would change (exit 0 none, 2 changes, 1 error)
  audit verify|export  check the audit hash chain of the server's store; export it for a SIEM
  attest [--dir PATH]  attestation report per organization from git history and the audit log
  secret set|show|delete NAMESPACE/NAME
                       supply an upstream IdP secret to the server's write-only store
  export --dir PATH    write what partners set up in the portal (IdP connections) as YAML to commit
  notifications list --namespace NS
                       the notification outbox (invitations, resets, …) and, unused, their links
  help [command]       show help
  version, --version   print the version of Gatehouse

Run "gatehouse <command> --help" for a command's options.`;

/** Where a run reads its environment and writes its output: the process's own, or a caller's (the specs run commands in-process). */
export interface Io {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: Io = { env: process.env, stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };

/** Dispatches a subcommand; resolves to the process exit code. Long-running commands resolve when stopped. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  const line = (write: (text: string) => void) => (text: string) => write(`${text}\n`);
  const out = line(io.stdout);
  const err = line(io.stderr);
  try {
    switch (command) {
      case 'serve':
      case 'controller': {
        // Listening from the start: a signal during start-up (a long first pass) stops the server
        // in order as soon as it is up, rather than killing it with queued audit records.
        const signal = signals(io);
        try {
          const result = command === 'serve' ? await serve(rest, io.env, out) : await controller(rest, io.env, out);
          if (typeof result === 'number') return result;
          if (rest.includes('--help') || rest.includes('-h')) return 0;
          return await stopOnSignal(result, signal.received, io);
        } finally {
          signal.dispose();
        }
      }
      case 'audit':
        return await audit(rest, io.env, out, err);
      case 'attest':
        return await attest(rest, io.env, io.stdout, io.stderr);
      case 'secret':
        return await secret(rest, io.env, out, err);
      case 'plan':
        return await plan(rest, io.env, io.stdout, io.stderr);
      case 'export':
        return await exportCommand(rest, io.env, out, err);
      case 'notifications':
        return await notifications(rest, io.env, out, err);
      case 'version':
      case '--version':
      case '-v':
        io.stdout(`${packageVersion()}\n`);
        return 0;
      case 'help':
      case '--help':
      case '-h':
      case undefined:
        io.stdout(
          `${rest[0] === 'serve' ? SERVE_USAGE : rest[0] === 'controller' ? CONTROLLER_USAGE : rest[0] === 'audit' ? AUDIT_USAGE : rest[0] === 'attest' ? ATTEST_USAGE : rest[0] === 'secret' ? SECRET_USAGE : rest[0] === 'plan' ? PLAN_USAGE : rest[0] === 'export' ? EXPORT_USAGE : rest[0] === 'notifications' ? NOTIFICATIONS_USAGE : USAGE}\n`,
        );
        return command === undefined ? 1 : 0;
      default:
        io.stderr(`gatehouse: unknown command "${command}"\n\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    io.stderr(`gatehouse ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

/** The first SIGTERM or SIGINT, from now on; a second one exits at once. */
function signals(io: Io): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let first!: (signal: NodeJS.Signals) => void;
  const received = new Promise<NodeJS.Signals>((resolve) => (first = resolve));
  let seen = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (seen) {
      io.stderr(`${signal} again: exiting without waiting\n`);
      process.exit(1);
    }
    seen = true;
    io.stdout(`\n${signal}: stopping\n`);
    first(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    received,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Stops after the signal: 0 once stopped in order, 1 when stopping failed or overran its
 * deadline. Exits even if a stray handle would keep the process alive, so an orchestrator
 * never has to kill it.
 */
async function stopOnSignal(stop: () => Promise<void>, received: Promise<NodeJS.Signals>, io: Io): Promise<number> {
  await received;
  try {
    await stop();
    return 0;
  } catch (error) {
    io.stderr(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    setTimeout(() => process.exit(), 2000).unref();
  }
}
