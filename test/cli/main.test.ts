import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { gatehouse } from '../support/process.ts';

describe('gatehouse --version', () => {
  it.each([['--version'], ['-v'], ['version']])('%s prints the version of the package.json and exits 0', async (flag) => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const cmd = gatehouse([flag], {});
    expect(await cmd.exit()).toBe(0);
    expect(cmd.output()).toBe(`${version}\n`);
  });

  it('is listed in the help', async () => {
    const cmd = gatehouse(['help'], {});
    expect(await cmd.exit()).toBe(0);
    expect(cmd.output()).toMatch(/^ {2}version, --version +print the version of Gatehouse$/m);
  });
});
