/**
 * The native Pulumi provider: the engine's ResourceProvider gRPC service over the SDK-free logic of
 * logic.ts. `@pulumi/pulumi/provider`'s own host does not fit: it does not implement CheckConfig,
 * ignores Configure's variables, and has no detailed diff; so this serves the service directly
 * with @grpc/grpc-js and the generated stubs that ship in @pulumi/pulumi/proto.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import emptyproto from 'google-protobuf/google/protobuf/empty_pb.js';
import structproto from 'google-protobuf/google/protobuf/struct_pb.js';
import pluginproto from '@pulumi/pulumi/proto/plugin_pb.js';
import provrpc from '@pulumi/pulumi/proto/provider_grpc_pb.js';
import provproto from '@pulumi/pulumi/proto/provider_pb.js';
import { kindByName, type KindName } from '../api/index.ts';
import { AdminApiError } from '../client/admin-client.ts';
import { DependantsError, GatehouseResources, UNKNOWN, check, diff, resolveConnection, type Connection, type ObjectInputs, type ObjectOutputs } from './logic.ts';
import { CONFIG, PACKAGE, SECRET_OUTPUTS, pulumiSchema } from './schema.ts';
import { providerVersion } from './version.ts';
import { detailedDiff, pathUnder, secret, unwrapSecrets, wrapSecrets, type ChangeKind, type Path } from './wire.ts';

type Props = Record<string, unknown>;
type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;

/** The input properties of every kind, the only ones a diff compares. */
const INPUT_KEYS = ['namespace', 'name', 'labels', 'annotations', 'spec', 'rotateSecretTrigger'] as const;

/** `urn:pulumi:stack::project::[parent$]type::name`. */
function parseUrn(urn: string): { stack: string; project: string; type: string; name: string } {
  const parts = urn.split('::');
  if (parts.length < 4 || !parts[0]!.startsWith('urn:pulumi:')) throw new Error(`"${urn}" is not a resource URN`);
  const qualified = parts[2]!;
  return { stack: parts[0]!.slice('urn:pulumi:'.length), project: parts[1]!, type: qualified.slice(qualified.lastIndexOf('$') + 1), name: parts.slice(3).join('::') };
}

function kindOf(urn: string, type?: string): KindName {
  const token = type || parseUrn(urn).type;
  const match = /^gatehouse:index:([A-Za-z]+)$/.exec(token);
  if (!match || !kindByName(match[1]!)) throw new Error(`the gatehouse provider has no resource type ${token}`);
  return match[1] as KindName;
}

const toStruct = (value: unknown) => structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(value ?? {})) as Record<string, structproto.JavaScriptValue>);
const fromStruct = (struct: structproto.Struct | undefined): Props => (struct ? (struct.toJavaScript() as Props) : {});

/** An error the engine shows to the user; the message never carries a credential (the admin client's errors do not). */
function failure(error: unknown): grpc.ServiceError {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof DependantsError || (error instanceof AdminApiError && error.status === 409) ? grpc.status.FAILED_PRECONDITION : grpc.status.UNKNOWN;
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}

function unary<Req, Res>(run: (request: Req) => Promise<Res> | Res): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => run(call.request))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(failure(error), null),
      );
  };
}

/** Outputs with the credentials the schema marks secret, and whatever arrived secret, wrapped again. */
function outputsFor(kind: KindName, outs: ObjectOutputs, carriedSecrets: Path[]): Props {
  const { provenance: _provenance, ...rest } = outs;
  return wrapSecrets(rest as Props, [...carriedSecrets, ...(SECRET_OUTPUTS[kind] ?? []).map((key) => [key])]);
}

export interface NativeProviderOptions {
  env?: Record<string, string | undefined>;
  version?: string;
}

/** The ResourceProvider service's handlers; `serve` binds them to a port. */
export function resourceProvider(options: NativeProviderOptions = {}) {
  const env = options.env ?? process.env;
  const version = options.version ?? providerVersion();
  const state: { connection: Connection; resources?: GatehouseResources; update: string } = {
    connection: resolveConnection(() => undefined, env),
    update: env.GATEHOUSE_PULUMI_UPDATE ?? randomUUID(),
  };
  const resources = () => (state.resources ??= GatehouseResources.connect(state.connection));
  /** What the audit log records with each change: the stack and project from the URN, one id per update. */
  const provenance = (urn: string) => {
    const { stack, project } = parseUrn(urn);
    return { source: 'pulumi', stack, project, update: state.update };
  };

  const checkConfig = (req: provproto.CheckRequest) => {
    const news = fromStruct(req.getNews());
    const plain = unwrapSecrets(news).value as Props;
    const response = new provproto.CheckResponse();
    const failures: provproto.CheckFailure[] = [];
    for (const [key, value] of Object.entries(plain)) {
      if (key === 'version' || key === 'adminToken' || key === 'update') continue;
      if (!(key in CONFIG)) failures.push(new provproto.CheckFailure().setProperty(key).setReason(`unknown configuration key gatehouse:${key}; expected one of ${Object.keys(CONFIG).join(', ')}`));
      else if (typeof value !== 'string') failures.push(new provproto.CheckFailure().setProperty(key).setReason('expected a string'));
    }
    if (typeof plain.endpoint === 'string' && plain.endpoint !== UNKNOWN && !/^https?:\/\/[^\s]+$/.test(plain.endpoint)) {
      failures.push(new provproto.CheckFailure().setProperty('endpoint').setReason('expected an http(s) URL'));
    }
    // The token is a credential whatever way it was set: it is kept in the state only as a secret.
    const checked: Props = { ...news };
    for (const key of ['token', 'adminToken']) if (typeof checked[key] === 'string') checked[key] = secret(checked[key]);
    return response.setInputs(toStruct(checked)).setFailuresList(failures);
  };

  const handlers: Partial<provrpc.IResourceProviderServer> = {
    getPluginInfo: unary(() => new pluginproto.PluginInfo().setVersion(version)),
    getSchema: unary((req: provproto.GetSchemaRequest) => {
      if (req.getVersion() !== 0) throw new Error(`unsupported schema version ${req.getVersion()}`);
      return new provproto.GetSchemaResponse().setSchema(JSON.stringify(pulumiSchema(version)));
    }),
    checkConfig: unary(checkConfig),
    diffConfig: unary((req: provproto.DiffRequest) => {
      const olds = unwrapSecrets(fromStruct(req.getOlds())).value as Props;
      const news = unwrapSecrets(fromStruct(req.getNews())).value as Props;
      const changed = ['endpoint', 'token', 'adminToken'].filter((key) => olds[key] !== news[key]);
      // A new endpoint or token never replaces the resources: the objects are the same ones, reached differently.
      const response = new provproto.DiffResponse().setChanges(changed.length ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE);
      return response.setDiffsList(changed);
    }),
    configure: unary((req: provproto.ConfigureRequest) => {
      const args = unwrapSecrets(fromStruct(req.getArgs())).value as Props;
      const variables = req.getVariablesMap();
      const lookup = (key: string): string | undefined => {
        const name = key.slice(`${PACKAGE}:`.length);
        const value = args[name] ?? variables.get(`${PACKAGE}:config:${name}`) ?? variables.get(key);
        return typeof value === 'string' && value !== '' && value !== UNKNOWN ? value : undefined;
      };
      state.connection = resolveConnection(lookup, env);
      state.update = lookup(`${PACKAGE}:update`) ?? state.update;
      delete state.resources;
      return new provproto.ConfigureResponse().setAcceptsecrets(true).setAcceptresources(false).setSupportspreview(true);
    }),
    check: unary((req: provproto.CheckRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      const { value, secrets } = unwrapSecrets(fromStruct(req.getNews()));
      const news = value as Partial<ObjectInputs>;
      // Like the dynamic resources: the object's name defaults to the resource name, never auto-suffixed.
      if (news.name === undefined) news.name = req.getName() || parseUrn(req.getUrn()).name;
      const result = check(kind, news);
      const response = new provproto.CheckResponse().setInputs(toStruct(wrapSecrets(result.inputs, secrets)));
      return response.setFailuresList(result.failures.map((f) => new provproto.CheckFailure().setProperty(f.property).setReason(f.reason)));
    }),
    diff: unary((req: provproto.DiffRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      const olds = unwrapSecrets(fromStruct(req.getOlds())).value as Props;
      const news = unwrapSecrets(fromStruct(req.getNews())).value as Props;
      const ignored = req.getIgnorechangesList();
      const keys = kind === 'Client' ? INPUT_KEYS : INPUT_KEYS.filter((k) => k !== 'rotateSecretTrigger');
      const changes = [...detailedDiff(olds, news, keys)].filter(([path]) => !ignored.some((i) => pathUnder(path, i)));
      const verdict = diff(kind, olds as Partial<ObjectOutputs>, news as Partial<ObjectInputs>);
      const replaces = verdict.replaces.filter((r) => changes.some(([path]) => pathUnder(path, r) || pathUnder(r, path)));
      const response = new provproto.DiffResponse();
      const detailed = response.getDetaileddiffMap();
      for (const [path, change] of changes) {
        const replacing = replaces.some((r) => pathUnder(path, r) || pathUnder(r, path));
        detailed.set(path, new provproto.PropertyDiff().setKind(KINDS_OF_CHANGE[change][replacing ? 1 : 0]).setInputdiff(false));
      }
      response.setHasdetaileddiff(true);
      response.setChanges(changes.length > 0 ? provproto.DiffResponse.DiffChanges.DIFF_SOME : provproto.DiffResponse.DiffChanges.DIFF_NONE);
      response.setDiffsList([...new Set(changes.map(([path]) => /^[A-Za-z]+/.exec(path)![0]))]);
      response.setReplacesList(replaces);
      response.setDeletebeforereplace(replaces.length > 0 && verdict.deleteBeforeReplace);
      return response;
    }),
    create: unary(async (req: provproto.CreateRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      const { value, secrets } = unwrapSecrets(fromStruct(req.getProperties()));
      const inputs = value as unknown as ObjectInputs;
      if (req.getPreview()) return new provproto.CreateResponse().setProperties(toStruct(wrapSecrets(inputs, secrets)));
      const created = await resources().create(kind, { ...inputs, provenance: provenance(req.getUrn()) });
      return new provproto.CreateResponse().setId(created.id).setProperties(toStruct(outputsFor(kind, created.outs, secrets)));
    }),
    read: unary(async (req: provproto.ReadRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      const { value, secrets } = unwrapSecrets(fromStruct(req.getProperties()));
      const inputSecrets = unwrapSecrets(fromStruct(req.getInputs())).secrets;
      const result = await resources().read(kind, req.getId(), value as Partial<ObjectOutputs>);
      // An object gone from the server: an empty id tells the engine to drop it from the state.
      if (!result.id || !result.props) return new provproto.ReadResponse();
      return new provproto.ReadResponse()
        .setId(result.id)
        .setProperties(toStruct(outputsFor(kind, result.props, secrets)))
        .setInputs(toStruct(wrapSecrets(result.inputs ?? {}, inputSecrets)));
    }),
    update: unary(async (req: provproto.UpdateRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      const olds = unwrapSecrets(fromStruct(req.getOlds()));
      const news = unwrapSecrets(fromStruct(req.getNews()));
      if (req.getPreview()) return new provproto.UpdateResponse().setProperties(toStruct(wrapSecrets({ ...(olds.value as Props), ...(news.value as Props) }, news.secrets)));
      const updated = await resources().update(kind, req.getId(), olds.value as Partial<ObjectOutputs>, { ...(news.value as unknown as ObjectInputs), provenance: provenance(req.getUrn()) });
      return new provproto.UpdateResponse().setProperties(toStruct(outputsFor(kind, updated.outs, news.secrets)));
    }),
    delete: unary(async (req: provproto.DeleteRequest) => {
      const kind = kindOf(req.getUrn(), req.getType());
      await resources().delete(kind, req.getId(), { provenance: provenance(req.getUrn()) });
      return new emptyproto.Empty();
    }),
    cancel: unary(() => new emptyproto.Empty()),
    attach: unary(() => new emptyproto.Empty()),
  };
  return handlers;
}

const KINDS_OF_CHANGE: Record<ChangeKind, [provproto.PropertyDiff.Kind, provproto.PropertyDiff.Kind]> = {
  add: [provproto.PropertyDiff.Kind.ADD, provproto.PropertyDiff.Kind.ADD_REPLACE],
  delete: [provproto.PropertyDiff.Kind.DELETE, provproto.PropertyDiff.Kind.DELETE_REPLACE],
  update: [provproto.PropertyDiff.Kind.UPDATE, provproto.PropertyDiff.Kind.UPDATE_REPLACE],
};

/** Serves the provider on 127.0.0.1 (a free port unless one is given); resolves with the port. */
export async function serve(options: NativeProviderOptions & { port?: number } = {}): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 400 * 1024 * 1024 });
  server.addService(provrpc.ResourceProviderService, resourceProvider(options) as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return { port, server };
}
