import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const NS = 'blixit-partners';
let gh: TestServer;
let dir: string;
/** Every value handed to the CLI: none may appear in its output. */
const values = ['forge-file-secret-8c1d', 'forge-env-secret-2e77', 'pinnacle-key-pem-body-93fa', 'forge-file-secret-rotated-5b0c'];
const outputs: string[] = [];

/** In-process: the binary's dispatch without a Node start-up per case (the help case below spawns it). */
const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = await gatehouseInProcess(['secret', ...args], { GATEHOUSE_ADMIN_TOKEN: gh.token, GATEHOUSE_ENDPOINT: gh.url, ...env });
  outputs.push(result.output);
  return result;
};
const stored = (name: string, key: string) => gh.gatehouse.upstreamSecrets.value(NS, { name, key });
const auditCount = async () => ((await gh.admin('GET', '/admin/v1/audit?limit=1000')).body.items as { action: string }[]).filter((i) => i.action.startsWith('Secret.')).length;

beforeAll(async () => {
  gh = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-secret-cli-'));
  await writeFile(join(dir, 'forge.txt'), `${values[0]}\n`);
});
afterAll(async () => {
  await gh.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse secret (directory mode: supplying upstream secrets)', () => {
  it('set --from-file stores the file content (without its trailing newline) under client-secret and says what it did', async () => {
    const { code, output } = await run(['set', `${NS}/forge-oidc`, '--from-file', join(dir, 'forge.txt')]);
    expect(code).toBe(0);
    expect(output.trim()).toBe(`secret ${NS}/forge-oidc created: keys "client-secret"`);
    expect(await stored('forge-oidc', 'client-secret')).toBe(values[0]);
  });

  it('set with the same data writes nothing: the server fingerprint already matches', async () => {
    const before = await auditCount();
    const { code, output } = await run(['set', `${NS}/forge-oidc`, '--from-file', join(dir, 'forge.txt')]);
    expect(code).toBe(0);
    expect(output).toContain(`secret ${NS}/forge-oidc unchanged`);
    expect(await auditCount()).toBe(before);
  });

  it('set --from-env KEY=VAR replaces the whole secret and names the keys it dropped', async () => {
    const { code, output } = await run(['set', `${NS}/forge-oidc`, '--from-env', 'secret=FORGE_SECRET', '--endpoint', gh.url], { FORGE_SECRET: values[1], GATEHOUSE_ENDPOINT: '' });
    expect(code).toBe(0);
    expect(output.trim()).toBe(`secret ${NS}/forge-oidc updated: keys "secret"; removed keys "client-secret"`);
    expect(await stored('forge-oidc', 'secret')).toBe(values[1]);
    expect(await stored('forge-oidc', 'client-secret')).toBeUndefined();
  });

  it('takes several keys in one write', async () => {
    await writeFile(join(dir, 'key.pem'), values[2]!);
    const { code, output } = await run(['set', `${NS}/pinnacle`, '--from-file', `signing.pem=${join(dir, 'key.pem')}`, '--from-env', 'FORGE_SECRET'], { FORGE_SECRET: values[1] });
    expect(code).toBe(0);
    expect(output.trim()).toBe(`secret ${NS}/pinnacle created: keys "client-secret", "signing.pem"`);
    expect(await stored('pinnacle', 'signing.pem')).toBe(values[2]);
    expect(await stored('pinnacle', 'client-secret')).toBe(values[1]);
  });

  it('show prints key names, update time and fingerprint, never values', async () => {
    const { code, output } = await run(['show', `${NS}/pinnacle`]);
    expect(code).toBe(0);
    expect(output).toMatch(new RegExp(`^secret ${NS}/pinnacle: keys "client-secret", "signing.pem"; updated \\d{4}-\\d\\d-\\d\\dT[^;]+; fingerprint scrypt\\$`));
  });

  it('names the object, and the file or variable, in errors — never a value', async () => {
    const cases: [string[], NodeJS.ProcessEnv, number, string][] = [
      [['set', `${NS}/forge-oidc`, '--from-env', 'NOT_SET_ANYWHERE'], {}, 1, `secret ${NS}/forge-oidc: environment variable NOT_SET_ANYWHERE (--from-env NOT_SET_ANYWHERE) is not set`],
      [['set', `${NS}/forge-oidc`, '--from-file', join(dir, 'missing.txt')], {}, 1, `secret ${NS}/forge-oidc: cannot read ${join(dir, 'missing.txt')} (--from-file ${join(dir, 'missing.txt')}): ENOENT`],
      [['set', `${NS}/forge-oidc`, '--from-env', 'EMPTY'], { EMPTY: '' }, 1, `secret ${NS}/forge-oidc: key "client-secret" would be empty`],
      [['set', `${NS}/forge-oidc`, '--from-env', 'bad key=FORGE_SECRET'], { FORGE_SECRET: values[1] }, 2, `key "bad key" in --from-env bad key=FORGE_SECRET must be`],
      [['set', `${NS}/forge-oidc`], {}, 2, `secret ${NS}/forge-oidc: give the value with --from-file`],
      [['set', 'forge-oidc', '--from-env', 'FORGE_SECRET'], { FORGE_SECRET: values[1] }, 2, '"forge-oidc" is not NAMESPACE/NAME'],
      [['set', `${NS}/Forge_OIDC`, '--from-env', 'FORGE_SECRET'], { FORGE_SECRET: values[1] }, 2, `"${NS}/Forge_OIDC" is not NAMESPACE/NAME`],
      [['show', `${NS}/nobody`], {}, 1, `secret ${NS}/nobody does not exist in ${gh.url}`],
      [['delete', `${NS}/nobody`], {}, 1, `secret ${NS}/nobody does not exist in ${gh.url}`],
      [['set', `${NS}/forge-oidc`, '--from-env', 'FORGE_SECRET'], { FORGE_SECRET: values[1], GATEHOUSE_ADMIN_TOKEN: 'not-a-valid-admin-token-000000' }, 1, `secret ${NS}/forge-oidc: the admin token is not valid`],
      [['set', `${NS}/forge-oidc`, '--from-env', 'FORGE_SECRET'], { FORGE_SECRET: values[1], GATEHOUSE_ADMIN_TOKEN: '' }, 2, 'set GATEHOUSE_ADMIN_TOKEN'],
    ];
    const results = await Promise.all(cases.map(([args, env]) => run(args, env)));
    cases.forEach(([args, , exit, message], i) => expect({ args, code: results[i]!.code, output: results[i]!.output }).toEqual({ args, code: exit, output: expect.stringContaining(message) }));
    // None of these changed what the server holds.
    expect(await stored('forge-oidc', 'secret')).toBe(values[1]);
  });

  it('updates a value, and delete removes the secret', async () => {
    await writeFile(join(dir, 'forge.txt'), values[3]!);
    expect((await run(['set', `${NS}/forge-oidc`, '--from-file', `secret=${join(dir, 'forge.txt')}`])).output.trim()).toBe(`secret ${NS}/forge-oidc updated: keys "secret"`);
    expect(await stored('forge-oidc', 'secret')).toBe(values[3]);
    const { code, output } = await run(['delete', `${NS}/forge-oidc`]);
    expect(code).toBe(0);
    expect(output.trim()).toBe(`secret ${NS}/forge-oidc deleted`);
    expect(await stored('forge-oidc', 'secret')).toBeUndefined();
  });

  it('never printed a value', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const value of values) expect(outputs.filter((o) => o.includes(value))).toEqual([]);
  });

  it('is listed in the help of the real binary', async () => {
    const cmd = gatehouse(['help', 'secret'], {});
    expect(await cmd.exit()).toBe(0);
    expect(cmd.output()).toContain('gatehouse secret set NAMESPACE/NAME (--from-file [KEY=]PATH | --from-env [KEY=]VAR)');
  });
});
