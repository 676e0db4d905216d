import type * as pulumi from '@pulumi/pulumi';
import { extname } from 'node:path';
import type { KindName } from '../api/index.ts';
import type * as Logic from './logic.ts';

// Pulumi serializes a dynamic provider's closure into the state and runs it in its own process.
// Capturing the logic module would drag api/, zod and the admin client through the closure
// serializer (which does not follow ES modules), so the provider captures only the module's
// URL and imports it where it runs. The URL is built at run time, which tsc does not rewrite:
// the sibling has this module's own extension (logic.ts from the sources, logic.js from dist/).
const LOGIC_URL = new URL(`./logic${extname(new URL(import.meta.url).pathname)}`, import.meta.url).href;

/**
 * The dynamic provider of one kind: a thin adapter from Pulumi's ResourceProvider to the
 * SDK-free functions of logic.ts. The endpoint and admin token come through `configure`
 * (stack config, then environment), never through the closure, so no credential is written
 * into the serialized provider in the state (pulumi/pulumi#4512).
 */
export function dynamicProvider(kind: KindName, logicUrl: string = LOGIC_URL): pulumi.dynamic.ResourceProvider {
  const state: { connection?: Logic.Connection; resources?: Logic.GatehouseResources } = {};
  const load = async () => (await import(logicUrl)) as typeof Logic;
  const resources = async () => {
    if (!state.resources) {
      const logic = await load();
      state.resources = logic.GatehouseResources.connect(state.connection ?? logic.resolveConnection(() => undefined, process.env));
    }
    return state.resources;
  };
  return {
    async configure(req: pulumi.dynamic.ConfigureRequest) {
      const logic = await load();
      state.connection = logic.resolveConnection((key) => req.config.get(key), process.env);
      delete state.resources;
    },
    async check(_olds: Logic.ObjectInputs, news: Logic.ObjectInputs) {
      return (await load()).check(kind, news);
    },
    async diff(_id: string, olds: Logic.ObjectOutputs, news: Logic.ObjectInputs) {
      return (await load()).diff(kind, olds, news);
    },
    async create(inputs: Logic.ObjectInputs) {
      return (await resources()).create(kind, inputs);
    },
    async read(id: string, props?: Logic.ObjectOutputs) {
      return (await resources()).read(kind, id, props);
    },
    async update(id: string, olds: Logic.ObjectOutputs, news: Logic.ObjectInputs) {
      return (await resources()).update(kind, id, olds, news);
    },
    async delete(id: string, props: Logic.ObjectOutputs) {
      await (await resources()).delete(kind, id, props);
    },
  };
}
