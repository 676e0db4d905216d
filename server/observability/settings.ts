import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../log.ts';
import { DEFAULT_MAX_ORGANIZATIONS } from './metrics.ts';

/** The observability variables, with their meaning (the usage texts list these). */
export const OBSERVABILITY_ENV_HELP = `  LOG_LEVEL               JSON log level: fatal, error, warn, info (default), debug, trace, silent
  GATEHOUSE_METRICS_PORT  serve Prometheus /metrics on this port (default: not served)
  GATEHOUSE_METRICS_HOST  address of the metrics listener (default: HOST, else 127.0.0.1)
  GATEHOUSE_METRICS_TOKEN bearer token /metrics requires (default: none; the port is the boundary)
  GATEHOUSE_METRICS_MAX_ORGANIZATIONS  distinct organization labels before the rest count as _other (default ${DEFAULT_MAX_ORGANIZATIONS})
  OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP collector base URL; tracing is off unless set
  OTEL_SERVICE_NAME       service name on spans (default gatehouse)`;

const port = z.coerce.number().int().min(0).max(65535);
const Schema = z.object({
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  GATEHOUSE_METRICS_PORT: port.optional(),
  GATEHOUSE_METRICS_HOST: z.string().min(1).optional(),
  GATEHOUSE_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  GATEHOUSE_METRICS_MAX_ORGANIZATIONS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_MAX_ORGANIZATIONS),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://otel-collector:4318' }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('gatehouse'),
});

export interface ObservabilitySettings {
  logLevel: LogLevel;
  metrics?: { port: number; host: string | undefined; token: string | undefined; maxOrganizations: number };
  tracing?: { endpoint: string; serviceName: string };
}

/** Reads the observability variables; an invalid one stops the start with its name and what is wrong. */
export function observabilitySettings(env: NodeJS.ProcessEnv): ObservabilitySettings {
  const empty = (v: string | undefined) => (v === '' ? undefined : v);
  const parsed = Schema.safeParse(Object.fromEntries(Object.keys(Schema.shape).map((k) => [k, empty(env[k])])));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${String(issue.path[0])}: ${issue.message}`);
  }
  const s = parsed.data;
  return {
    logLevel: s.LOG_LEVEL,
    ...(s.GATEHOUSE_METRICS_PORT !== undefined ? { metrics: { port: s.GATEHOUSE_METRICS_PORT, host: s.GATEHOUSE_METRICS_HOST, token: s.GATEHOUSE_METRICS_TOKEN, maxOrganizations: s.GATEHOUSE_METRICS_MAX_ORGANIZATIONS } } : {}),
    ...(s.OTEL_EXPORTER_OTLP_ENDPOINT ? { tracing: { endpoint: s.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: s.OTEL_SERVICE_NAME } } : {}),
  };
}
