import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { GROUP_VERSION, SOURCE_ANNOTATION, type AnyObject, type IdPConnectionObject } from '../api/index.ts';
import { AdminClient } from '../client/admin-client.ts';
import { environmentHelp, readConfig } from './config.ts';

export const EXPORT_USAGE = `gatehouse export --dir PATH [--endpoint URL]

Writes what partners set up at run time, for the platform team to commit: every IdPConnection
a partner administrator enabled in the portal (status.source.type "portal"), one YAML file per
connection under PATH/NAMESPACE/. Secrets stay references (clientSecretRef), never values.
Committed and applied (gatehouse controller --dir, or kubectl), the declaration takes the
connection over under the same name: the controller adopts it and owns it from then on, and
the portal marker goes.

  --dir PATH        where to write (created if missing; existing files of the same name are replaced)
  --endpoint URL    the server's base URL (or GATEHOUSE_ENDPOINT)

${environmentHelp('export')}`;

type Out = (line: string) => void;

/** The connection as a declaration: spec and name only, no server state, no runtime marker. */
export function asDeclaration(object: AnyObject): AnyObject {
  const annotations = { ...(object.metadata.annotations ?? {}) };
  delete annotations[SOURCE_ANNOTATION];
  return {
    apiVersion: GROUP_VERSION,
    kind: object.kind,
    metadata: { name: object.metadata.name, namespace: object.metadata.namespace, ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: object.spec,
  } as AnyObject;
}

export const isPortalCreated = (object: AnyObject) => object.metadata.annotations?.[SOURCE_ANNOTATION] === 'portal';

/** Files to write, relative to --dir: one per portal connection, with a header saying where it came from. */
export function exportFiles(connections: IdPConnectionObject[]): { path: string; text: string }[] {
  return connections.filter(isPortalCreated).map((c) => {
    const source = (c.status as { source?: { author?: string; date?: string } } | undefined)?.source;
    const header = `# Set up in the partner portal${source?.author ? ` by ${source.author}` : ''}${source?.date ? ` on ${source.date}` : ''}; exported by gatehouse export.\n# Committed, this declaration takes the connection over (same name): the controller owns it from then on.\n`;
    return { path: join(c.metadata.namespace ?? 'default', `idpconnection-${c.metadata.name}.yaml`), text: header + stringify(asDeclaration(c)) };
  });
}

/** `gatehouse export --dir PATH`; resolves to the exit code. */
export async function exportCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, out: Out = (l) => process.stdout.write(`${l}\n`), err: Out = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  let values: { dir?: string | undefined; endpoint?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({ args: argv, options: { dir: { type: 'string' }, endpoint: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    err(`gatehouse export: ${(error as Error).message}\n\n${EXPORT_USAGE}`);
    return 2;
  }
  if (values.help) {
    out(EXPORT_USAGE);
    return 0;
  }
  if (!values.dir) {
    err(`gatehouse export: give where to write with --dir PATH\n\n${EXPORT_USAGE}`);
    return 2;
  }
  let config;
  try {
    config = readConfig('export', { ...env, ...(values.endpoint !== undefined ? { GATEHOUSE_ENDPOINT: values.endpoint } : {}) });
  } catch (error) {
    err(`gatehouse export: ${(error as Error).message}`);
    return 2;
  }
  const endpoint = config.GATEHOUSE_ENDPOINT;
  if (!endpoint) {
    err('gatehouse export: give the server with --endpoint URL (or GATEHOUSE_ENDPOINT)');
    return 2;
  }
  const client = new AdminClient({ endpoint, token: config.GATEHOUSE_ADMIN_TOKEN! });
  try {
    const files = exportFiles(await client.list<IdPConnectionObject>('IdPConnection'));
    for (const file of files) {
      const path = join(values.dir, file.path);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, file.text);
      out(`wrote ${path}`);
    }
    out(files.length === 0 ? 'no connections set up in the portal: nothing to export' : `${files.length} connection${files.length === 1 ? '' : 's'} set up in the portal exported to ${values.dir}; commit them to hand them over to git`);
    return 0;
  } catch (error) {
    err(`gatehouse export: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
