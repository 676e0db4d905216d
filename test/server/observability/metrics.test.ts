import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { RunningServer } from '../../../server/http/listen.ts';
import { Metrics } from '../../../server/observability/metrics.ts';
import { serveMetrics } from '../../../server/observability/metrics-server.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { NS, forgeAndCascade } from '../../support/objects.ts';
import { CALLBACK, setPassword, signIn } from '../../support/sign-in.ts';

const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
const PASSWORD = 'correct horse battery staple';
const insecure = { execute: [oidc.allowInsecureRequests] };
let gh: TestServer;
let metrics: Metrics;
let scrapeServer: RunningServer;
const secrets: Record<string, string> = {};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses Prometheus text exposition (version 0.0.4) strictly: every line is a comment, a
 * HELP or TYPE line, or a sample of a declared metric; anything else throws, naming the line.
 * Values are Go floats, as Prometheus reads them (prom-client writes NaN as "Nan", which Go's ParseFloat accepts).
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? ([+-]?(?:[0-9.eE+-]+|[Ii]nf|[Nn]a[Nn]))(?: -?[0-9]+)?$`);
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!)) throw new Error(`unknown metric type: ${line}`);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = sampleLine.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const name = m[1]!;
    const family = [...types.keys()].find((t) => name === t || name.startsWith(`${t}_`));
    if (!family) throw new Error(`sample of an undeclared metric: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(label)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name, labels, value: Number(m[3]!.replace(/^([+-]?)inf$/i, '$1Infinity').replace(/^nan$/i, 'NaN')) });
  }
  return { types, samples };
}

async function scrape(headers: Record<string, string> = { authorization: `Bearer ${METRICS_TOKEN}` }): Promise<{ types: Map<string, string>; samples: Sample[] }> {
  const res = await fetch(`${scrapeServer.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** The value of one series (0 when it does not exist yet). */
async function value(name: string, labels: Record<string, string>): Promise<number> {
  const { samples } = await scrape();
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  return found?.value ?? 0;
}

const forgeConfig = (secret: string) => oidc.discovery(new URL(`${gh.url}/${NS}/forge`), `forge-sync.${NS}`, secret, undefined, insecure);

beforeAll(async () => {
  metrics = new Metrics();
  gh = await startTestServer({ metrics, now: new Date().toISOString() });
  scrapeServer = await serveMetrics(metrics, { host: '127.0.0.1', port: 0, token: METRICS_TOKEN });
  for (const [plural, object] of forgeAndCascade(CALLBACK, ['openid', 'email'])) await gh.put(plural, object);
  for (const name of ['forge-sync', 'cascade-portal']) secrets[name] = (await gh.admin('POST', `/admin/v1/namespaces/${NS}/clients/${name}/secret`)).body.clientSecret;
  await setPassword(gh, 'ana', PASSWORD);
});
afterAll(async () => {
  await scrapeServer.close();
  await gh.close();
});

describe('GET /metrics', () => {
  it('counts a token issued by organization and grant type', async () => {
    const labels = { namespace: NS, organization: 'forge', grant_type: 'client_credentials' };
    const before = await value('gatehouse_tokens_issued_total', labels);
    await oidc.clientCredentialsGrant(await forgeConfig(secrets['forge-sync']!), { scope: 'inventory:read' });
    expect(await value('gatehouse_tokens_issued_total', labels)).toBe(before + 1);
  });

  it('counts a refused token request by organization and grant type', async () => {
    const labels = { namespace: NS, organization: 'forge', grant_type: 'client_credentials' };
    const before = await value('gatehouse_tokens_refused_total', labels);
    const issued = await value('gatehouse_tokens_issued_total', labels);
    await expect(oidc.clientCredentialsGrant(await forgeConfig('not-the-secret'), { scope: 'inventory:read' })).rejects.toThrow();
    expect(await value('gatehouse_tokens_refused_total', labels)).toBe(before + 1);
    expect(await value('gatehouse_tokens_issued_total', labels)).toBe(issued);
  });

  it('counts sign-ins by organization and outcome', async () => {
    const succeeded = { namespace: NS, organization: 'cascade', outcome: 'succeeded' };
    const failed = { namespace: NS, organization: 'cascade', outcome: 'failed' };
    const [s0, f0] = [await value('gatehouse_sign_ins_total', succeeded), await value('gatehouse_sign_ins_total', failed)];
    await signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email: 'ana@cascade.example', password: PASSWORD });
    await expect(signIn(gh, 'cascade', 'cascade-portal', secrets['cascade-portal']!, { email: 'ana@cascade.example', password: 'wrong password' })).rejects.toThrow();
    expect(await value('gatehouse_sign_ins_total', succeeded)).toBe(s0 + 1);
    expect(await value('gatehouse_sign_ins_total', failed)).toBe(f0 + 1);
    expect(await value('gatehouse_tokens_issued_total', { namespace: NS, organization: 'cascade', grant_type: 'authorization_code' })).toBeGreaterThanOrEqual(1);
  });

  it('parses as Prometheus exposition, with audit latency, the issuer cache, store errors and process metrics', async () => {
    const { types, samples } = await scrape();
    expect(types.get('gatehouse_tokens_issued_total')).toBe('counter');
    expect(types.get('gatehouse_audit_append_seconds')).toBe('histogram');
    expect(types.get('gatehouse_store_errors_total')).toBe('counter');
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(samples.find((s) => s.name === 'gatehouse_audit_append_seconds_count')?.value).toBeGreaterThanOrEqual(3);
    expect(samples.find((s) => s.name === 'gatehouse_issuer_cache_size')?.value).toBeGreaterThanOrEqual(2);
  });

  it('labels by namespace, organization, grant type and outcome only: never a user, client, secret or address', async () => {
    const { samples } = await scrape();
    const labelNames = new Set(samples.filter((s) => s.name.startsWith('gatehouse_')).flatMap((s) => Object.keys(s.labels)));
    expect([...labelNames].filter((l) => !['namespace', 'organization', 'grant_type', 'outcome', 'operation', 'source', 'le'].includes(l))).toEqual([]);
    const values = samples.flatMap((s) => Object.values(s.labels)).join('\n');
    for (const leak of ['forge-sync', 'cascade-portal', 'ana', secrets['forge-sync']!, '127.0.0.1', '/token']) expect(values).not.toContain(leak);
  });

  it('asks for the bearer token, and serves nothing else on its port', async () => {
    expect((await fetch(`${scrapeServer.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${scrapeServer.url}/metrics`, { headers: { authorization: 'Bearer metrics-scrape-token-0123456788' } })).status).toBe(401);
    expect((await fetch(`${scrapeServer.url}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${scrapeServer.url}/admin/v1/organizations`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(404);
  });
});

describe('organization labels', () => {
  it('are bounded: past the bound, and for names that are not declared names, they count as _other', async () => {
    const bounded = new Metrics({ maxOrganizations: 2, processMetrics: false });
    const issued = (organization: string | null) => bounded.observeAudit({ action: 'token.issued', actor: 'x', namespace: 'ns', organization, data: { grant: 'client_credentials' } });
    for (const org of ['a', 'b', 'c', 'a', null, 'Not A "Name"']) issued(org);
    const { samples } = parseExposition(await bounded.registry.metrics());
    const counts = Object.fromEntries(samples.filter((s) => s.name === 'gatehouse_tokens_issued_total').map((s) => [`${s.labels.namespace}/${s.labels.organization}`, s.value]));
    expect(counts).toEqual({ 'ns/a': 2, 'ns/b': 1, '_other/_other': 3 });
  });

  it('count refusals of token requests only: a network refusal at /token is one, an inactive introspection is not', async () => {
    const m = new Metrics({ processMetrics: false });
    const base = { actor: 'anonymous', namespace: 'ns', organization: 'a', outcome: 'refused' };
    m.observeAudit({ ...base, action: 'access.refused-network', data: { path: '/token' } });
    m.observeAudit({ ...base, action: 'access.refused-network', data: { path: '/userinfo' } });
    m.observeAudit({ ...base, action: 'token.introspected-inactive', data: {} });
    m.observeAudit({ ...base, action: 'token.refresh-reuse-detected', data: { grant: 'refresh_token' } });
    const { samples } = parseExposition(await m.registry.metrics());
    expect(samples.filter((s) => s.name === 'gatehouse_tokens_refused_total').map((s) => [s.labels.grant_type, s.value])).toEqual([
      ['_none', 1],
      ['refresh_token', 1],
    ]);
  });

  it('grant types outside the known set count as _other', async () => {
    const m = new Metrics({ processMetrics: false });
    m.observeAudit({ action: 'token.refused', actor: 'x', namespace: 'ns', organization: 'a', outcome: 'refused', data: { grant: 'urn:attacker:chosen' } });
    const { samples } = parseExposition(await m.registry.metrics());
    expect(samples.find((s) => s.name === 'gatehouse_tokens_refused_total')?.labels).toEqual({ namespace: 'ns', organization: 'a', grant_type: '_other' });
  });
});
