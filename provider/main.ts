/**
 * `pulumi-resource-gatehouse`: the process the Pulumi engine starts for the gatehouse package. It
 * is called with the engine's flags (`--logtostderr`, `-v=9`, `--tracing …`) and the engine's
 * address last; it answers with the port of its gRPC server, alone on the first line of stdout,
 * and serves until the engine ends it. Everything else goes to stderr.
 */
import { serve } from './native.ts';

export async function main(args: string[]): Promise<void> {
  if (args.includes('--version')) {
    const { providerVersion } = await import('./version.ts');
    process.stdout.write(`${providerVersion()}\n`);
    return;
  }
  const { port, server } = await serve();
  process.stdout.write(`${port}\n`);
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
