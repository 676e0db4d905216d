import { randomUUID } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';
import type * as api from '../api/index.ts';
import type { KindName } from '../api/index.ts';
import { dynamicProvider } from './dynamic.ts';
import type { AccessPolicyArgs, ClaimMappingArgs, ClientArgs, IdPConnectionArgs, ObjectArgs, OrganizationArgs, OrganizationTemplateArgs, SpecOutput, UserArgs, WorkspaceArgs } from './types.ts';

/** The module of the dynamic resources' type tokens (`pulumi-nodejs:dynamic/gatehouse:Organization`). */
export const MODULE = 'gatehouse';

/** The tokens of the native provider's resources (schema.json), for the same kinds. */
export { typeToken } from './schema.ts';

const providers = new Map<KindName, pulumi.dynamic.ResourceProvider>();
function providerFor(kind: KindName): pulumi.dynamic.ResourceProvider {
  let provider = providers.get(kind);
  if (!provider) providers.set(kind, (provider = dynamicProvider(kind)));
  return provider;
}

// One id for every change this program run makes, so the audit log groups an update's changes;
// CI can pass its own (a run id) through config or the environment.
const RUN_ID = randomUUID();

/** What the audit log records with each change this program makes. */
export function pulumiProvenance(): Record<string, string> {
  const config = new pulumi.Config('gatehouse');
  return {
    source: 'pulumi',
    stack: pulumi.getStack(),
    project: pulumi.getProject(),
    update: config.get('update') ?? process.env.GATEHOUSE_PULUMI_UPDATE ?? RUN_ID,
  };
}

function inputs(name: string, args: ObjectArgs<unknown>, outputs: readonly string[]): pulumi.Inputs {
  const props: pulumi.Inputs = {
    namespace: args.namespace,
    name: args.name ?? name,
    labels: args.labels,
    annotations: args.annotations,
    spec: args.spec,
    provenance: pulumiProvenance(),
    generation: undefined,
  };
  for (const output of outputs) props[output] = undefined;
  return props;
}

// Output properties are `declare`d: a plain field (`x!: Output<T>`) becomes a class field under
// ES2022+ semantics and would overwrite, with undefined, the outputs Pulumi's constructor set.

export class Workspace extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Workspace>>;
  /** The issuer of the workspace's shared applications. */
  declare readonly issuer: pulumi.Output<string>;
  constructor(name: string, args: WorkspaceArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('Workspace'), name, inputs(name, args, ['issuer']), opts, MODULE, 'Workspace');
  }
}

export class OrganizationTemplate extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.OrganizationTemplate>>;
  constructor(name: string, args: OrganizationTemplateArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('OrganizationTemplate'), name, inputs(name, args, []), opts, MODULE, 'OrganizationTemplate');
  }
}

export class Organization extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Organization>>;
  /** The organization's OpenID Connect issuer URL. */
  declare readonly issuer: pulumi.Output<string>;
  constructor(name: string, args: OrganizationArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('Organization'), name, inputs(name, args, ['issuer']), opts, MODULE, 'Organization');
  }
}

export class IdPConnection extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.IdPConnection>>;
  constructor(name: string, args: IdPConnectionArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('IdPConnection'), name, inputs(name, args, []), opts, MODULE, 'IdPConnection');
  }
}

/** Outputs of a Client the server generates; the secret is only ever held as a Pulumi secret. */
export const CLIENT_SECRET_OUTPUTS = ['clientSecret'];

export class Client extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.Client>>;
  /** The OAuth client_id. */
  declare readonly clientId: pulumi.Output<string>;
  /** The issuer whose tokens the client receives. */
  declare readonly issuer: pulumi.Output<string>;
  /** Web and m2m clients: the client secret, a Pulumi secret; undefined for public (spa, native) clients. */
  declare readonly clientSecret: pulumi.Output<string | undefined>;
  declare readonly rotateSecretTrigger: pulumi.Output<string | undefined>;
  constructor(name: string, args: ClientArgs, opts?: pulumi.CustomResourceOptions) {
    const props = inputs(name, args, ['clientId', 'issuer', 'clientSecret']);
    props.rotateSecretTrigger = args.rotateSecretTrigger;
    const secretOutputs = [...(opts?.additionalSecretOutputs ?? []), ...CLIENT_SECRET_OUTPUTS];
    super(providerFor('Client'), name, props, { ...opts, additionalSecretOutputs: secretOutputs }, MODULE, 'Client');
  }
}

export class ClaimMapping extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.ClaimMapping>>;
  constructor(name: string, args: ClaimMappingArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('ClaimMapping'), name, inputs(name, args, []), opts, MODULE, 'ClaimMapping');
  }
}

export class AccessPolicy extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.AccessPolicy>>;
  constructor(name: string, args: AccessPolicyArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('AccessPolicy'), name, inputs(name, args, []), opts, MODULE, 'AccessPolicy');
  }
}

export class User extends pulumi.dynamic.Resource {
  declare readonly namespace: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly labels: pulumi.Output<Record<string, string> | undefined>;
  declare readonly annotations: pulumi.Output<Record<string, string> | undefined>;
  declare readonly generation: pulumi.Output<number>;
  declare readonly spec: pulumi.Output<SpecOutput<typeof api.User>>;
  constructor(name: string, args: UserArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('User'), name, inputs(name, args, []), opts, MODULE, 'User');
  }
}
