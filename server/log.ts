import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger as Pino } from 'pino';

/**
 * Where the server says what it does: one JSON object per line (pino). Messages never carry
 * secrets; errors print their message and stack only. Fields are facts about a request
 * (method, path without its query, status), never headers, bodies or query strings.
 */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, error?: unknown): void;
  debug(message: string, fields?: LogFields): void;
  /** True when `debug` lines are written (skip building fields that would be dropped). */
  readonly debugEnabled: boolean;
}

export type LogFields = Record<string, string | number | boolean | undefined>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The request being served, for what is written while serving it (log lines, audit records). */
export interface RequestScope {
  id: string;
}
export const requestScope = new AsyncLocalStorage<RequestScope>();

/** JSON lines on `stream` (stderr by default); each line written while serving a request carries its `requestId`. */
export function jsonLogger(options: { level?: LogLevel; stream?: NodeJS.WritableStream } = {}): Logger {
  const log: Pino = pino(
    {
      level: options.level ?? 'info',
      base: { service: 'gatehouse' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => {
        const scope = requestScope.getStore();
        return scope ? { requestId: scope.id } : {};
      },
    },
    options.stream ?? pino.destination(2),
  );
  return {
    info: (m, fields) => (fields ? log.info(fields, m) : log.info(m)),
    warn: (m, fields) => (fields ? log.warn(fields, m) : log.warn(m)),
    debug: (m, fields) => (fields ? log.debug(fields, m) : log.debug(m)),
    error: (m, e) => (e instanceof Error ? log.error({ err: { type: e.name, message: e.message, stack: e.stack } }, m) : log.error(m)),
    get debugEnabled() {
      return log.isLevelEnabled('debug');
    },
  };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {}, debugEnabled: false };

/** `data` with the id of the request being served, for an audit record written while serving it (an id already there stays). */
export function withRequestId(data: Record<string, unknown>): Record<string, unknown> {
  const scope = requestScope.getStore();
  return scope && data.requestId === undefined ? { ...data, requestId: scope.id } : data;
}
