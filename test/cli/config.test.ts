import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, SETTINGS, environmentHelp, namesOf, readConfig, type Name } from '../../cli/config.ts';
import { CONFIGURATION_DOC, configurationDocIsCurrent, renderConfigurationDoc } from '../../cli/config-docs.ts';
import { SERVE_USAGE } from '../../cli/serve.ts';
import { CONTROLLER_USAGE } from '../../cli/controller.ts';
import { SECRET_USAGE } from '../../cli/secret.ts';

const KEY = 'k'.repeat(48);

function problem(command: Parameters<typeof readConfig>[0], env: Record<string, string>): ConfigError {
  try {
    readConfig(command, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('the configuration (cli/config.ts)', () => {
  it('applies the documented defaults when nothing is set, and treats empty as unset', () => {
    const config = readConfig('serve', { PORT: '', HOST: '' });
    expect(config).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', GATEHOUSE_DATA_DIR: './data', GATEHOUSE_TRUSTED_PROXIES: [], GATEHOUSE_SHUTDOWN_GRACE_SECONDS: 20, GATEHOUSE_MAX_PROVIDERS: 1000 });
    expect(config.PUBLIC_URL).toBeUndefined();
    expect(config.GATEHOUSE_SECRET_KEY).toBeUndefined();
  });

  it('reads only what a command reads: a bad PORT does not stop `gatehouse secret`', () => {
    expect(namesOf('secret')).toEqual(['GATEHOUSE_ADMIN_TOKEN', 'GATEHOUSE_ENDPOINT']);
    expect(readConfig('secret', { PORT: 'nope', GATEHOUSE_ADMIN_TOKEN: 't'.repeat(24), GATEHOUSE_ENDPOINT: 'http://127.0.0.1:1' })).toEqual({ GATEHOUSE_ADMIN_TOKEN: 't'.repeat(24), GATEHOUSE_ENDPOINT: 'http://127.0.0.1:1' });
  });

  it('parses values into their types', () => {
    const config = readConfig('serve', { PORT: '0', GATEHOUSE_TRUSTED_PROXIES: ' 10.0.0.0/8 ,, 192.168.0.0/16', GATEHOUSE_SHUTDOWN_GRACE_SECONDS: '2.5', GATEHOUSE_MAX_PROVIDERS: '5000' });
    expect(config.GATEHOUSE_MAX_PROVIDERS).toBe(5000);
    expect(config.PORT).toBe(0);
    expect(config.GATEHOUSE_TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(config.GATEHOUSE_SHUTDOWN_GRACE_SECONDS).toBe(2.5);
  });

  it.each([
    ['PORT', '65536', 'PORT must be a port number, got "65536"'],
    ['PORT', '80a', 'PORT must be a port number, got "80a"'],
    ['PUBLIC_URL', 'id.example.com', 'PUBLIC_URL must be an http(s) URL such as https://id.example.com, got "id.example.com"'],
    ['PUBLIC_URL', 'ftp://id.example.com', 'PUBLIC_URL must be an http(s) URL'],
    ['GATEHOUSE_SHUTDOWN_GRACE_SECONDS', '-1', 'GATEHOUSE_SHUTDOWN_GRACE_SECONDS must be a number of seconds, got "-1"'],
    ['GATEHOUSE_MAX_PROVIDERS', '0', 'GATEHOUSE_MAX_PROVIDERS must be at least 1'],
    ['GATEHOUSE_MAX_PROVIDERS', 'many', 'GATEHOUSE_MAX_PROVIDERS must be a whole number'],
  ])('refuses %s=%s, naming the variable and the value', (name, value, message) => {
    expect(problem('serve', { [name]: value }).message).toContain(message);
  });

  it('requires GATEHOUSE_SECRET_KEY with DATABASE_URL and says how to make one', () => {
    const error = problem('serve', { DATABASE_URL: 'postgres://gatehouse:hunter2hunter2@db/gatehouse' });
    expect(error.problems.map((p) => p.variable)).toEqual(['GATEHOUSE_SECRET_KEY']);
    expect(error.message).toBe('GATEHOUSE_SECRET_KEY is not set (it is required with DATABASE_URL): generate one with `openssl rand -base64 48` and keep it (losing it loses every sealed secret)');
    expect(readConfig('serve', { DATABASE_URL: 'postgres://db/gatehouse', GATEHOUSE_SECRET_KEY: KEY }).GATEHOUSE_SECRET_KEY).toBe(KEY);
    // audit reads the key when given (to check a keyed chain) but does not require it; attest never reads it.
    expect(readConfig('audit', { DATABASE_URL: 'postgres://db/gatehouse' }).DATABASE_URL).toBe('postgres://db/gatehouse');
  });

  it('never repeats a secret: a wrong DATABASE_URL, a short key or token is named, its value is not', () => {
    const error = problem('serve', { DATABASE_URL: 'mysql://root:hunter2hunter2@db', GATEHOUSE_SECRET_KEY: 'short-but-secret', GATEHOUSE_ADMIN_TOKEN: 'tiny-secret' });
    expect(error.problems.map((p) => p.variable)).toEqual(['DATABASE_URL', 'GATEHOUSE_SECRET_KEY', 'GATEHOUSE_ADMIN_TOKEN']);
    expect(error.message).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(error.message).toContain('GATEHOUSE_SECRET_KEY is too short: use at least 32 random characters');
    expect(error.message).toContain('GATEHOUSE_ADMIN_TOKEN is too short');
    for (const secret of ['hunter2', 'short-but-secret', 'tiny-secret']) expect(error.message).not.toContain(secret);
  });

  it('reads the SMTP URL of notifications as a secret: a wrong one is named, its credentials are not', () => {
    const error = problem('serve', { GATEHOUSE_SMTP_URL: 'mailto://relay:smtp-pass-hunter3@mail.example' });
    expect(error.problems.map((p) => p.variable)).toEqual(['GATEHOUSE_SMTP_URL']);
    expect(error.message).toContain('GATEHOUSE_SMTP_URL must be an smtp:// or smtps:// URL');
    expect(error.message).not.toContain('hunter3');
    expect(readConfig('serve', { GATEHOUSE_SMTP_URL: 'smtps://relay:pw@mail.example:465' })).toMatchObject({ GATEHOUSE_SMTP_URL: 'smtps://relay:pw@mail.example:465', GATEHOUSE_MAIL_FROM: 'Gatehouse <gatehouse@localhost>', GATEHOUSE_NOTIFICATION_LEASE_SECONDS: 60 });
  });

  it('requires the admin token of the commands that call the server, not of serve', () => {
    expect(problem('controller', {}).message).toMatch(/^GATEHOUSE_ADMIN_TOKEN is not set: set GATEHOUSE_ADMIN_TOKEN to an admin token of the server/);
    expect(problem('secret', { GATEHOUSE_ADMIN_TOKEN: '' }).problems[0]!.variable).toBe('GATEHOUSE_ADMIN_TOKEN');
    expect(readConfig('serve', {}).GATEHOUSE_ADMIN_TOKEN).toBeUndefined();
  });

  it('declares every environment variable the sources read', () => {
    const read = new Set<string>();
    for (const folder of ['cli', 'server', 'controller', 'client', 'bin']) {
      for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
        if (!entry.isFile() || !/\.(ts|js)$/.test(entry.name)) continue;
        const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
        for (const m of text.matchAll(/\b(?:env|config)\??\.([A-Z][A-Z0-9_]+)\b/g)) read.add(m[1]!);
      }
    }
    expect(read.size).toBeGreaterThan(8);
    expect([...read].filter((name) => !(name in SETTINGS))).toEqual([]);
  });

  it('generates the --help of serve, controller and secret from the same rows', () => {
    for (const [usage, command] of [
      [SERVE_USAGE, 'serve'],
      [CONTROLLER_USAGE, 'controller'],
      [SECRET_USAGE, 'secret'],
    ] as const) {
      expect(usage).toContain(environmentHelp(command));
      for (const name of namesOf(command)) expect(usage).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
    expect(environmentHelp('serve')).toMatch(/GATEHOUSE_SECRET_KEY +key that seals secrets at rest[^]*required\s+with\s+DATABASE_URL;\s+secret\)/);
  });
});

describe('the Configuration table in docs/configuration.md', () => {
  it('is what cli/config.ts generates (run `npm run gen:config` after changing it)', () => {
    expect(configurationDocIsCurrent()).toBe(true);
    const text = readFileSync(CONFIGURATION_DOC, 'utf8');
    for (const name of Object.keys(SETTINGS) as Name[]) expect(text).toContain(`| \`${name}\` |`);
  });

  it('is found stale when a row changes', () => {
    const text = readFileSync(CONFIGURATION_DOC, 'utf8');
    const stale = text.replace('| `PORT` | `8080` |', '| `PORT` | `80` |');
    expect(stale).not.toBe(text);
    expect(renderConfigurationDoc(stale)).toBe(text);
    expect(() => renderConfigurationDoc('# no table here')).toThrow(/no configuration table markers/);
  });
});
