import type { ValidationError, FieldError } from '../api/index.ts';

/**
 * An error that reaches the caller as RFC 9457 `application/problem+json`: what was
 * wrong (title, detail), where (object, field paths) and, where useful, what to do.
 */
export class Problem extends Error {
  readonly status: number;
  readonly title: string;
  readonly errors: FieldError[];
  readonly object: string | undefined;
  readonly extra: Record<string, unknown>;

  constructor(status: number, title: string, detail: string, options: { errors?: FieldError[]; object?: string; extra?: Record<string, unknown> } = {}) {
    super(detail);
    this.name = 'Problem';
    this.status = status;
    this.title = title;
    this.errors = options.errors ?? [];
    this.object = options.object;
    this.extra = options.extra ?? {};
  }

  static fromValidation(error: ValidationError): Problem {
    return new InvalidObject(error.message, { errors: error.errors, ...(error.object ? { object: error.object } : {}) });
  }

  toJSON(): Record<string, unknown> {
    return {
      type: `https://gatehouse.dev/problems/${this.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(this.object ? { object: this.object } : {}),
      ...(this.errors.length ? { errors: this.errors } : {}),
      ...this.extra,
    };
  }
}

/** The failures every part of the server raises, typed so callers and specs can tell them apart. */
export class BadRequest extends Problem {
  constructor(detail: string, errors?: FieldError[], object?: string) {
    super(400, 'Bad request', detail, { ...(errors ? { errors } : {}), ...(object ? { object } : {}) });
    this.name = 'BadRequest';
  }
}

export class Unauthorized extends Problem {
  constructor(detail: string) {
    super(401, 'Unauthorized', detail);
    this.name = 'Unauthorized';
  }
}

export class Forbidden extends Problem {
  constructor(detail: string, options: { extra?: Record<string, unknown> } = {}) {
    super(403, 'Forbidden', detail, options);
    this.name = 'Forbidden';
  }
}

export class NotFound extends Problem {
  constructor(detail: string) {
    super(404, 'Not found', detail);
    this.name = 'NotFound';
  }
}

export class Conflict extends Problem {
  constructor(detail: string, options: { title?: string; object?: string; errors?: FieldError[]; extra?: Record<string, unknown> } = {}) {
    super(409, options.title ?? 'Conflict', detail, options);
    this.name = 'Conflict';
  }
}

export const notFound = (detail: string): NotFound => new NotFound(detail);
export const badRequest = (detail: string, errors?: FieldError[]): BadRequest => new BadRequest(detail, errors);

/** 422: the object (or a field of it) breaks a rule; `errors` name the fields. */
export class InvalidObject extends Problem {
  constructor(detail: string, options: { errors: FieldError[]; object?: string; title?: string }) {
    super(422, options.title ?? 'Invalid object', detail, options);
    this.name = 'InvalidObject';
  }
}
