import { createRequire } from 'node:module';
import * as pulumi from '@pulumi/pulumi';
import type { KindName } from '../../api/index.ts';
import { dynamicProvider } from '../../provider/dynamic.ts';

const require = createRequire(import.meta.url);
const requireFromString = require('require-from-string') as (code: string) => { handler(): pulumi.dynamic.ResourceProvider };

export type HostedProvider = Required<pulumi.dynamic.ResourceProvider>;

/**
 * A dynamic provider as Pulumi's provider host runs it: serialized as it would be into the
 * state, loaded back from that text alone, then configured with the stack's config.
 */
export async function hostedProvider(kind: KindName, config: Record<string, string>): Promise<{ provider: HostedProvider; serialized: string }> {
  const original = dynamicProvider(kind);
  const serialized = await pulumi.runtime.serializeFunction(() => original, { allowSecrets: true });
  const provider = requireFromString(serialized.text).handler() as HostedProvider;
  await provider.configure({
    config: {
      get: (key) => config[key],
      require: (key) =>
        config[key] ??
        (() => {
          throw new Error(`missing ${key}`);
        })(),
    },
  });
  return { provider, serialized: serialized.text };
}
