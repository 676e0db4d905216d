/**
 * `gatehouse export --dir PATH`: what partners set up in the portal, written as YAML for the
 * platform team to commit. Only portal connections; secrets as references; no server state.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseObject } from '../../api/index.ts';
import { gatehouseInProcess } from '../support/cli.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NS, idp, organization } from '../support/objects.ts';

let gh: TestServer;
let dir: string;
const run = (args: string[]) => gatehouseInProcess(['export', ...args], { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_ENDPOINT: gh.url });

beforeAll(async () => {
  gh = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-export-'));
  await gh.put('organizations', organization('acme'));
  await gh.put('idpconnections', idp('acme-declared', 'acme', { type: 'directory', oidc: undefined }));
  const portal = { ...idp('acme-sso', 'acme', { priority: 50, oidc: { issuer: 'https://sso.acme.example', clientId: 'gatehouse', clientSecretRef: { name: 'acme-sso-client-secret', key: 'client-secret' } } }), metadata: { name: 'acme-sso', namespace: NS, annotations: { 'gatehouse.dev/source': 'portal' } } };
  await gh.gatehouse.objects.apply(portal, { actor: 'user:ada', provenance: { source: 'portal' } });
  await gh.gatehouse.upstreamSecrets.put(NS, 'acme-sso-client-secret', { data: { 'client-secret': 'never-exported-7f3a' } }, { actor: 'user:ada' });
});
afterAll(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse export', () => {
  it('writes each portal connection as a declaration, with its secret as a reference only', async () => {
    const { code, output } = await run(['--dir', dir]);
    expect(code).toBe(0);
    expect(output).toContain(`wrote ${join(dir, NS, 'idpconnection-acme-sso.yaml')}`);
    expect(output).toContain('1 connection set up in the portal exported');
    expect(await readdir(join(dir, NS))).toEqual(['idpconnection-acme-sso.yaml']);
    const text = await readFile(join(dir, NS, 'idpconnection-acme-sso.yaml'), 'utf8');
    expect(text).not.toContain('never-exported-7f3a');
    const object = parse(text);
    expect(object).toEqual({
      apiVersion: 'gatehouse.dev/v1alpha1',
      kind: 'IdPConnection',
      metadata: { name: 'acme-sso', namespace: NS },
      spec: expect.objectContaining({ organizationRef: { name: 'acme' }, oidc: { issuer: 'https://sso.acme.example', clientId: 'gatehouse', clientSecretRef: { name: 'acme-sso-client-secret', key: 'client-secret' } } }),
    });
    // What the directory source will read back is a valid declaration.
    expect(() => parseObject(object)).not.toThrow();
  });

  it('needs --dir and says so', async () => {
    const { code, output } = await run([]);
    expect(code).toBe(2);
    expect(output).toContain('give where to write with --dir PATH');
  });
});
