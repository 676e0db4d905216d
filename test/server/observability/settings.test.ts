import { describe, expect, it } from '@jest/globals';
import { readConfig } from '../../../cli/config.ts';
import { observabilitySettings } from '../../../server/observability/settings.ts';

const settings = (env: Record<string, string>) => observabilitySettings(readConfig('serve', env));

describe('observability settings', () => {
  it('are all off by default, logging at info', () => {
    expect(settings({})).toEqual({ logLevel: 'info' });
  });

  it('turn metrics on with a port and tracing on with an endpoint', () => {
    expect(settings({ GATEHOUSE_METRICS_PORT: '9464', GATEHOUSE_METRICS_TOKEN: 'scrape-token-0123456789', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', LOG_LEVEL: 'debug' })).toEqual({
      logLevel: 'debug',
      metrics: { port: 9464, host: undefined, token: 'scrape-token-0123456789', maxOrganizations: 1000 },
      tracing: { endpoint: 'http://otel-collector:4318', serviceName: 'gatehouse' },
    });
  });

  it('are what the controller reads too, without the server-only ones', () => {
    expect(observabilitySettings(readConfig('controller', { GATEHOUSE_ADMIN_TOKEN: 'a'.repeat(24), GATEHOUSE_METRICS_PORT: '9465' }))).toEqual({
      logLevel: 'info',
      metrics: { port: 9465, host: undefined, token: undefined, maxOrganizations: 1000 },
    });
  });

  it.each([
    ['GATEHOUSE_METRICS_PORT', 'ninety', 'GATEHOUSE_METRICS_PORT must be a port number'],
    ['GATEHOUSE_METRICS_PORT', '70000', 'GATEHOUSE_METRICS_PORT must be a port number'],
    ['GATEHOUSE_METRICS_TOKEN', 'short', 'GATEHOUSE_METRICS_TOKEN must be at least 16 characters'],
    ['GATEHOUSE_METRICS_MAX_ORGANIZATIONS', '0', 'GATEHOUSE_METRICS_MAX_ORGANIZATIONS must be between 1 and 100000'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL must be one of fatal'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL'],
  ])('refuse an invalid %s (%s), naming it', (name, value, message) => {
    expect(() => settings({ GATEHOUSE_METRICS_PORT: '9464', [name]: value })).toThrow(message);
  });

  it('never repeat a rejected token in the error', () => {
    expect(() => settings({ GATEHOUSE_METRICS_TOKEN: 'short-secret' })).toThrow(/^GATEHOUSE_METRICS_TOKEN must be at least 16 characters$/);
  });
});
