/**
 * Writes the native provider's package schema and the TypeScript SDK generated from it:
 *
 *   node provider/generate.ts           regenerate provider/schema.json and provider/native-sdk.ts
 *   node provider/generate.ts --check   exit 1, naming the stale files, when the checked-in ones differ
 *
 * The SDK's argument and spec types are the api/ schemas' own (provider/types.ts); what the schema
 * adds — the resources, their input and output properties, which outputs are secret — is read
 * from schema.json here, so a kind is never written out by hand.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pulumiSchema, type PackageSchema, type PropertySpec } from './schema.ts';
import { providerVersion } from './version.ts';

export const PROVIDER_DIR = dirname(fileURLToPath(import.meta.url));
const HEADER = '// Generated from provider/schema.json by provider/generate.ts (npm run gen:pulumi-schema) — do not edit.';

function tsType(kind: string, key: string, property: PropertySpec): string {
  if (key === 'spec') return `SpecOutput<typeof api.${kind}>`;
  if (property.type === 'integer' || property.type === 'number') return 'number';
  if (property.type === 'object') return 'Record<string, string>';
  return property.type ?? 'unknown';
}

const docComment = (text: string | undefined, indent: string) => (text ? `${indent}/** ${text.split('\n\n')[0]!.replace(/\*\//g, '*\\/')} */\n` : '');

export function sdkSource(schema: PackageSchema): string {
  const out: string[] = [
    HEADER,
    `import * as pulumi from '@pulumi/pulumi';`,
    `import type * as api from '../api/index.ts';`,
    `import { resourceInputs, resourceOptions } from './native-support.ts';`,
    `import type { AccessPolicyArgs, ClaimMappingArgs, ClientArgs, IdPConnectionArgs, OrganizationArgs, OrganizationTemplateArgs, SpecOutput, UserArgs, WorkspaceArgs } from './types.ts';`,
    '',
    `export { Provider, type ProviderArgs } from './native-support.ts';`,
    `export type { AccessPolicyArgs, ClaimMappingArgs, ClientArgs, IdPConnectionArgs, OrganizationArgs, OrganizationTemplateArgs, UserArgs, WorkspaceArgs } from './types.ts';`,
  ];
  for (const [token, resource] of Object.entries(schema.resources)) {
    const kind = token.slice(token.lastIndexOf(':') + 1);
    const inputKeys = Object.keys(resource.inputProperties);
    const outputKeys = Object.keys(resource.properties);
    const secrets = outputKeys.filter((k) => resource.properties[k]!.secret);
    out.push('', `${docComment(resource.description, '')}export class ${kind} extends pulumi.CustomResource {`);
    out.push(`  static readonly __pulumiType = '${token}';`, '');
    out.push(`  /** An existing ${kind} by its id, \`namespace/name\`: its properties are read from the server (\`pulumi import\` uses the same id). */`);
    out.push(`  static get(name: string, id: pulumi.Input<pulumi.ID>, opts?: pulumi.CustomResourceOptions): ${kind} {`);
    out.push(`    return new ${kind}(name, undefined, { ...opts, id });`, '  }', '');
    out.push(`  static override isInstance(obj: unknown): obj is ${kind} {`);
    out.push(`    return obj instanceof pulumi.CustomResource && (obj as { __pulumiType?: unknown }).__pulumiType === ${kind}.__pulumiType;`, '  }', '');
    // `declare`: a class field would overwrite, with undefined, the outputs Pulumi's constructor set.
    for (const key of outputKeys) {
      const property = resource.properties[key]!;
      const optional = resource.required.includes(key) ? '' : ' | undefined';
      out.push(`${docComment(property.description, '  ')}  declare readonly ${key}: pulumi.Output<${tsType(kind, key, property)}${optional}>;`);
    }
    out.push('');
    out.push(`  constructor(name: string, args: ${kind}Args, opts?: pulumi.CustomResourceOptions);`);
    out.push(`  constructor(name: string, args: undefined, opts: pulumi.CustomResourceOptions & { id: pulumi.Input<pulumi.ID> });`);
    out.push(`  constructor(name: string, args: ${kind}Args | undefined, opts?: pulumi.CustomResourceOptions) {`);
    out.push(`    const inputs = resourceInputs(args, ${JSON.stringify(inputKeys)}, ${JSON.stringify(outputKeys)});`);
    out.push(`    super(${kind}.__pulumiType, name, inputs, resourceOptions(opts, ${JSON.stringify(secrets)}));`);
    out.push('  }', '}');
  }
  return `${out.join('\n')}\n`;
}

/** Path (relative to the provider folder) → text of every generated file. */
export function renderPulumiFiles(): Map<string, string> {
  const schema = pulumiSchema(providerVersion());
  return new Map([
    ['schema.json', `${JSON.stringify(schema, null, 2)}\n`],
    ['native-sdk.ts', sdkSource(schema)],
  ]);
}

export function stalePulumiFiles(dir = PROVIDER_DIR, rendered = renderPulumiFiles()): string[] {
  return [...rendered].filter(([name, text]) => !existsSync(join(dir, name)) || readFileSync(join(dir, name), 'utf8') !== text).map(([name]) => name);
}

function main(argv: string[]): number {
  const rendered = renderPulumiFiles();
  const stale = stalePulumiFiles(PROVIDER_DIR, rendered);
  const shown = (name: string) => join(relative(process.cwd(), PROVIDER_DIR), name);
  if (argv.includes('--check')) {
    for (const name of stale) console.error(`stale: ${shown(name)}`);
    if (stale.length > 0) console.error('The Pulumi schema or SDK differs from api/: run `npm run gen:pulumi-schema` and commit the result.');
    return stale.length > 0 ? 1 : 0;
  }
  for (const name of stale) {
    writeFileSync(join(PROVIDER_DIR, name), rendered.get(name)!);
    console.log(`wrote ${shown(name)}`);
  }
  if (stale.length === 0) console.log('The Pulumi schema and SDK are already up to date.');
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
