import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pollUntil } from '../../support/eventually.ts';
import { gatehouse, type RunningCommand } from '../../support/process.ts';
import { temporaryDirectories } from '../../support/temp-dirs.ts';
import { NS, accessPolicy, client, organization, workspace } from '../../support/objects.ts';

/*
 * The server as a real process with OTEL_EXPORTER_OTLP_ENDPOINT set, exporting to an OTLP/HTTP
 * listener here that decodes the JSON export, as a collector would.
 */
const ADMIN_TOKEN = 'tracing-admin-token-0123456789abcdef';
const tempDir = temporaryDirectories('gatehouse-tracing-');

interface ExportedSpan {
  traceId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}
interface Received {
  service: string | undefined;
  span: ExportedSpan;
}
const received: Received[] = [];
let collector: Server;
let serve: RunningCommand;
let url: string;
let metricsUrl: string;

const attribute = (span: ExportedSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue !== undefined ? Number(value.intValue) : undefined);
};
const admin = (method: string, path: string, body?: unknown) => fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans: { resource: { attributes: ExportedSpan['attributes'] }; scopeSpans: { spans: ExportedSpan[] }[] }[] };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
          for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const dataDir = await tempDir();
  serve = gatehouse(['serve', '--port', '0'], {
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    GATEHOUSE_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  url = (await serve.waitFor(/listening on (http:\/\/\S+)/))[1]!;
  metricsUrl = (await serve.waitFor(/metrics +(http:\/\/\S+\/metrics)/))[1]!;
}, 30_000);
afterAll(async () => {
  await serve?.stop();
  await new Promise((resolve) => collector.close(resolve));
});

describe('OpenTelemetry tracing, when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  it('exports a server span of a token request, in the caller’s trace, with the service name', async () => {
    for (const [plural, object] of [
      ['workspaces', workspace()],
      ['organizations', organization('forge')],
      ['clients', client('forge-sync', 'forge', { type: 'm2m', redirectUris: undefined, scopes: ['inventory:read'], audiences: ['https://inventory.example'] })],
      ['accesspolicies', accessPolicy('forge-inventory', 'forge', { scopes: [{ scope: 'inventory:read' }] })],
    ] as const) {
      expect((await admin('PUT', `/admin/v1/namespaces/${NS}/${plural}/${object.metadata.name}`, object)).status).toBeLessThan(300);
    }
    const { clientSecret } = (await (await admin('POST', `/admin/v1/namespaces/${NS}/clients/forge-sync/secret`)).json()) as { clientSecret: string };
    const traceId = randomBytes(16).toString('hex');
    const res = await fetch(`${url}/${NS}/forge/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(`forge-sync.${NS}`)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
      body: 'grant_type=client_credentials&scope=inventory%3Aread',
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const token = await pollUntil(
      () => received.find((r) => r.span.traceId === traceId),
      5000,
      () => `spans received: ${JSON.stringify(received.map((r) => [r.span.name, attribute(r.span, 'url.path')]))}\n${serve.output()}`,
    );
    expect(token.service).toBe('gatehouse');
    expect(token.span).toMatchObject({ name: 'POST', kind: 2 }); // SPAN_KIND_SERVER
    expect(attribute(token.span, 'url.path')).toBe(`/${NS}/forge/token`);
    expect(attribute(token.span, 'http.response.status_code')).toBe(200);
    expect(attribute(token.span, 'gatehouse.request_id')).toBe(requestId);
    // Admin calls are traced too (not only the issuers' direct path).
    expect(received.some((r) => attribute(r.span, 'url.path') === `/admin/v1/namespaces/${NS}/clients/forge-sync/secret`)).toBe(true);
  });

  it('serves /metrics of that process on its own port, counting the token', async () => {
    const text = await (await fetch(metricsUrl)).text();
    expect(text).toContain(`gatehouse_tokens_issued_total{namespace="${NS}",organization="forge",grant_type="client_credentials"} 1`);
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('never loads the SDK: only server/observability/tracing.ts imports OpenTelemetry, and it is imported only dynamically', async () => {
    const sources: string[] = [];
    for (const top of ['server', 'cli', 'controller', 'client', 'api', 'bin']) {
      for (const entry of await readdir(top, { recursive: true })) if (/\.[jt]s$/.test(entry)) sources.push(join(top, entry));
    }
    const offenders: string[] = [];
    for (const file of sources) {
      const text = await readFile(file, 'utf8');
      if (file !== join('server', 'observability', 'tracing.ts') && /from '@opentelemetry\//.test(text)) offenders.push(`${file} imports @opentelemetry`);
      if (/^import (?!type )[^;]*observability\/tracing\.ts'/m.test(text)) offenders.push(`${file} imports tracing.ts statically`);
    }
    expect(offenders).toEqual([]);
    expect(await readFile('server/observability/tracing.ts', 'utf8')).not.toMatch(/^import (?!type )[^;]*'@opentelemetry/m);
  });
});
