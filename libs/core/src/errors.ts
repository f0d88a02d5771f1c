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
  // an Idempotency-Key whose first request is still being answered (IETF idempotency-key draft)
  IDEMPOTENCY_IN_PROGRESS: 409,
  // an Idempotency-Key sent again with other parameters
  IDEMPOTENCY_KEY_REUSED: 422,
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

/**
 * A start-up refusal (bad setting, database unreachable, layout or secret mismatch) whose
 * message is the whole story: one line naming the setting, what was tried and what to do.
 * The process prints it and exits 2.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export const DATABASE_UNAVAILABLE_MESSAGE = 'the database is unavailable; retry shortly';

/**
 * What callers get when a database fails: the stable code and our own words. The driver's
 * text (`connect ECONNREFUSED 10.0.0.5:3306`: an address) stays in `cause`, for the log only.
 */
export function databaseUnavailable(cause: unknown, what = 'the database'): IdError {
  return new IdError('DATABASE_UNAVAILABLE', what === 'the database' ? DATABASE_UNAVAILABLE_MESSAGE : `${what} is unavailable; retry shortly`, { cause });
}

/**
 * An error as an unauthenticated answer (readiness detail) may show it: an IdError's code and
 * message (ours, never driver text); anything else as DATABASE_UNAVAILABLE's generic words.
 */
export function publicError(e: unknown): { code: ErrorCode; message: string } {
  if (isIdError(e) && e.code !== 'INTERNAL') return { code: e.code, message: e.message };
  return { code: 'DATABASE_UNAVAILABLE', message: DATABASE_UNAVAILABLE_MESSAGE };
}

/** An error for the log: its message and the message of each cause behind it (the driver's text). */
export function errorForLog(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    parts.push(cur instanceof Error ? cur.message : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(': ');
}
