import * as grpc from '@grpc/grpc-js';
import emptyproto from 'google-protobuf/google/protobuf/empty_pb.js';
import structproto from 'google-protobuf/google/protobuf/struct_pb.js';
import provrpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import provproto from '@pulumi/pulumi/proto/provider_pb.js';
import { SECRET_SIG, SIG_KEY } from '../../provider/wire.ts';
import { command, type RunningCommand } from '../support/process.ts';

export { provproto };
export type Props = Record<string, unknown>;

export const struct = (value: Props) => structproto.Struct.fromJavaScript(value as Record<string, structproto.JavaScriptValue>);
export const plain = (value: structproto.Struct | undefined): Props => (value ? (value.toJavaScript() as Props) : {});
export const secretValue = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** Every secret-wrapped value replaced by a marker: what the engine can show (or log) without `--show-secrets`. */
export function masked(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === 'object') {
    const record = value as Props;
    if (record[SIG_KEY] === SECRET_SIG) return '[secret]';
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, masked(v)]));
  }
  return value;
}

type Method = 'getPluginInfo' | 'getSchema' | 'checkConfig' | 'diffConfig' | 'configure' | 'check' | 'diff' | 'create' | 'read' | 'update' | 'delete' | 'cancel';

/**
 * The Pulumi engine's side of a provider plugin: it starts `pulumi-resource-gatehouse` as the
 * engine does (flags, then the engine's address), reads the port from its first line of stdout,
 * and calls the ResourceProvider service over gRPC.
 */
export class Engine {
  readonly plugin: RunningCommand;
  private readonly client: provrpc.ResourceProviderClient;

  private constructor(plugin: RunningCommand, client: provrpc.ResourceProviderClient) {
    this.plugin = plugin;
    this.client = client;
  }

  static async start(env: NodeJS.ProcessEnv = {}): Promise<Engine> {
    const plugin = command(process.execPath, ['bin/pulumi-resource-gatehouse.js', '--logtostderr', '-v=9', '127.0.0.1:1'], { env });
    const port = (await plugin.waitFor(/^(\d+)\n/, 20_000))[1]!;
    return new Engine(plugin, new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  }

  call<Res>(method: Method, request: unknown): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<Method, (req: unknown, cb: (error: grpc.ServiceError | null, res: Res) => void) => void>)[method].bind(this.client);
      fn(request, (error, response) => (error ? reject(error) : resolve(response)));
    });
  }

  empty() {
    return new emptyproto.Empty();
  }

  async stop(): Promise<number | null> {
    this.client.close();
    return this.plugin.stop('SIGTERM');
  }
}

export const urn = (kind: string, name: string, stack = 'dev', project = 'partners') => `urn:pulumi:${stack}::${project}::gatehouse:index:${kind}::${name}`;
