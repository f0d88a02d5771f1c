/**
 * Every error a client can see carries one of these codes; the code, not the message, is the
 * contract (DESIGN.md, "Errors").
 */
export const ERROR_STATUS = {
  UNKNOWN_STRATEGY: 404,
  UNKNOWN_KEY: 404,
  NOT_FOUND: 404,
  INVALID_KEY: 400,
  INVALID_COUNT: 400,
  INVALID_FORMAT: 400,
  INVALID_ID: 400,
  INVALID_STEP: 400,
  INVALID_START: 400,
  SKIP_BACKWARDS: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_PARAMETER: 400,
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  ADMIN_DISABLED: 403,
  FORBIDDEN: 403,
  METHOD_NOT_ALLOWED: 405,
  KEY_EXISTS: 409,
  // permanent: the key or sequence would pass its maximum, so a 409 without Retry-After
  ID_SPACE_EXHAUSTED: 409,
  SEGMENT_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  CLOCK_BACKWARDS: 503,
  WORKER_LEASE_LOST: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export interface IdErrorOptions {
  /** seconds, for 503s; default 1 */
  retryAfter?: number;
  /** structured detail, e.g. the failed fields of an admin body */
  details?: unknown[];
  cause?: unknown;
}

/** The one error type strategies and controllers throw; the exception filter renders it. */
export class IdError extends Error {
  readonly status: number;
  readonly retryAfter?: number;
  readonly details?: unknown[];

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: IdErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IdError';
    this.status = ERROR_STATUS[code];
    this.details = options.details;
    if (this.status === 503) this.retryAfter = options.retryAfter ?? 1;
  }
}

export function isIdError(e: unknown): e is IdError {
  return e instanceof IdError;
}
