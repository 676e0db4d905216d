import type { LogLevel } from '../log.ts';
import { DEFAULT_MAX_ORGANIZATIONS } from './metrics.ts';

/**
 * The observability variables, already read and validated by the configuration module
 * (cli/config.ts declares them, with every other variable): the controller reads a subset.
 */
export interface ObservabilityValues {
  LOG_LEVEL?: LogLevel;
  GATEHOUSE_METRICS_PORT?: number | undefined;
  GATEHOUSE_METRICS_HOST?: string | undefined;
  GATEHOUSE_METRICS_TOKEN?: string | undefined;
  GATEHOUSE_METRICS_MAX_ORGANIZATIONS?: number;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_SERVICE_NAME?: string;
}

export interface ObservabilitySettings {
  logLevel: LogLevel;
  metrics?: { port: number; host: string | undefined; token: string | undefined; maxOrganizations: number };
  tracing?: { endpoint: string; serviceName: string };
}

/** What is on: metrics when a port is given, tracing when an endpoint is. */
export function observabilitySettings(values: ObservabilityValues): ObservabilitySettings {
  return {
    logLevel: values.LOG_LEVEL ?? 'info',
    ...(values.GATEHOUSE_METRICS_PORT !== undefined ? { metrics: { port: values.GATEHOUSE_METRICS_PORT, host: values.GATEHOUSE_METRICS_HOST, token: values.GATEHOUSE_METRICS_TOKEN, maxOrganizations: values.GATEHOUSE_METRICS_MAX_ORGANIZATIONS ?? DEFAULT_MAX_ORGANIZATIONS } } : {}),
    ...(values.OTEL_EXPORTER_OTLP_ENDPOINT ? { tracing: { endpoint: values.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: values.OTEL_SERVICE_NAME ?? 'gatehouse' } } : {}),
  };
}
