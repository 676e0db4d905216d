import type { RequestListener } from 'node:http';

export interface Tracing {
  /** `listener` with a server span around each request (W3C `traceparent` continues the caller's trace). */
  wrap(listener: RequestListener): RequestListener;
  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing, exported over OTLP/HTTP to `endpoint` (the exporter reads the
 * other OTEL_EXPORTER_OTLP_* variables itself). Only called when OTEL_EXPORTER_OTLP_ENDPOINT
 * is set: the SDK is imported here, dynamically, so a server without tracing never loads it.
 *
 * Spans are made here around the server's own request listener rather than by patching
 * `node:http`: that patching does not reach ESM imports without a loader hook.
 */
export async function startTracing(options: { serviceName: string }): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor }, { resourceFromAttributes }, { OTLPTraceExporter }, api] = await Promise.all([import('@opentelemetry/sdk-trace-node'), import('@opentelemetry/resources'), import('@opentelemetry/exporter-trace-otlp-http'), import('@opentelemetry/api')]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  const tracer = api.trace.getTracer('gatehouse');
  const { SpanKind, SpanStatusCode, context, propagation } = api;
  return {
    wrap(listener) {
      return (req, res) => {
        const parent = propagation.extract(context.active(), req.headers);
        const url = req.url ?? '/';
        const query = url.indexOf('?');
        const method = req.method ?? 'GET';
        // Paths name only declared namespaces and organizations; queries (codes, hints) are left out.
        const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': query < 0 ? url : url.slice(0, query), 'url.scheme': 'http' } }, parent);
        res.once('close', () => {
          span.setAttribute('http.response.status_code', res.statusCode);
          if (!res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away before the response was sent' });
          const requestId = res.getHeader('x-request-id');
          if (typeof requestId === 'string') span.setAttribute('gatehouse.request_id', requestId);
          if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        });
        context.with(api.trace.setSpan(parent, span), () => listener(req, res));
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
