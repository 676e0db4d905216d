/**
 * What the generated SDK (native-sdk.ts) shares: how a resource's inputs and options are passed to
 * the engine for the native provider (`pulumi-resource-gatehouse`), and its Provider resource.
 */
import * as pulumi from '@pulumi/pulumi';
import { PACKAGE } from './schema.ts';
import type { ObjectArgs } from './types.ts';
import { providerVersion } from './version.ts';

let version: string | undefined;
/** The plugin version the engine should start: the package's own, unless the program says otherwise. */
export function resourceOptions<T extends pulumi.CustomResourceOptions>(opts: T | undefined, secretOutputs: readonly string[]): T {
  version ??= providerVersion();
  const additionalSecretOutputs = [...(opts?.additionalSecretOutputs ?? []), ...secretOutputs];
  return { version, ...opts, ...(additionalSecretOutputs.length ? { additionalSecretOutputs } : {}) } as T;
}

/**
 * The inputs the engine receives: the declared properties (the provider defaults `name` to the
 * resource name), and every output left undefined so it resolves from the provider's answer.
 * With `.get` (`opts.id`, no args) all of them come from the provider's Read.
 */
export function resourceInputs(args: (ObjectArgs<unknown> & { rotateSecretTrigger?: pulumi.Input<string> }) | undefined, inputKeys: readonly string[], outputKeys: readonly string[]): pulumi.Inputs {
  const inputs: pulumi.Inputs = {};
  for (const key of inputKeys) inputs[key] = (args as Record<string, unknown> | undefined)?.[key];
  for (const key of outputKeys) if (!(key in inputs)) inputs[key] = undefined;
  return inputs;
}

export interface ProviderArgs {
  /** The server's base URL; default: GATEHOUSE_ENDPOINT. */
  endpoint?: pulumi.Input<string>;
  /** An admin token; default: GATEHOUSE_TOKEN (or GATEHOUSE_ADMIN_TOKEN). Kept as a secret. */
  token?: pulumi.Input<string>;
}

/** An explicit instance of the gatehouse provider: another server, or another token, than the stack config's. */
export class Provider extends pulumi.ProviderResource {
  constructor(name: string, args: ProviderArgs = {}, opts?: pulumi.ResourceOptions) {
    const token = args.token === undefined ? undefined : pulumi.secret(args.token);
    super(PACKAGE, name, { endpoint: args.endpoint, token }, { version: (version ??= providerVersion()), ...opts });
  }
}
