import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { gatehouseInProcess } from '../support/cli.ts';
import { gatehouse } from '../support/process.ts';

describe('gatehouse --version', () => {
  it('the real binary prints the version of the package.json and exits 0', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const cmd = gatehouse(['--version'], {});
    expect(await cmd.exit()).toBe(0);
    expect(cmd.output()).toBe(`${version}\n`);
  });

  it.each([['--version'], ['-v'], ['version']])('%s prints the version of the package.json and exits 0', async (flag) => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(await gatehouseInProcess([flag], {})).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('is listed in the help', async () => {
    const { code, output } = await gatehouseInProcess(['help'], {});
    expect(code).toBe(0);
    expect(output).toMatch(/^ {2}version, --version +print the version of Gatehouse$/m);
  });
});
