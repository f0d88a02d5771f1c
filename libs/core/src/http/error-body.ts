import { HttpException } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { ErrorCode, IdError } from '../errors';

/**
 * Fastify's maxParamLength: above the longest valid path parameter (a 128-character key, a
 * 19-digit id), so every valid key reaches its route, admin and Leaf included; longer segments
 * are answered INVALID_REQUEST.
 */
export const MAX_PATH_PARAM_LENGTH = 512;

/** DESIGN.md's error shape: one for every route but /health/* and /alloc. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: ErrorCode;
  message: string;
  details?: unknown[];
}

export interface RenderedError {
  body: ErrorBody;
  /** seconds; set for 503s */
  retryAfter?: number;
  /** an unexpected failure whose detail belongs in the log only */
  internal: boolean;
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 404:
      return 'NOT_FOUND';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    default:
      return 'VALIDATION_FAILED';
  }
}

/**
 * Fastify's router refuses these URLs before any route runs (see frameworkErrors in bootstrap);
 * the message says what was wrong without echoing the URL.
 */
const UNREADABLE_URL = new Map([
  ['FST_ERR_BAD_URL', 'the URL is not valid percent-encoding'],
  ['FST_ERR_MAX_PARAM_LENGTH', `a path segment is longer than ${MAX_PATH_PARAM_LENGTH} characters`],
]);

function build(status: number, code: ErrorCode, message: string, details?: unknown[]): ErrorBody {
  const body: ErrorBody = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, message };
  if (details !== undefined) body.details = details;
  return body;
}

/**
 * Turns anything thrown (our IdError, Nest's HttpException, Fastify's own errors such as a body
 * that is not JSON) into the one error shape. Unknown errors become 500 INTERNAL with no detail.
 */
/**
 * What a socket-level client error (unparsable HTTP, headers too large, a request not received in
 * time) is answered with: Fastify's clientErrorHandler writes it raw, before any request object
 * exists, so the answer is built here in the same shape, on every path (/alloc included: the
 * route is not known yet). head: the request line read so far was a HEAD.
 */
export function clientErrorResponse(errorCode: string | undefined, head = false): string {
  const [status, message] =
    errorCode === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request headers are too large']
      : errorCode === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request was not received in time']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify(build(status, 'INVALID_REQUEST', message));
  // an answer to HEAD has no body
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`
  );
}

export function renderError(exception: unknown): RenderedError {
  if (exception instanceof IdError) {
    return {
      body: build(exception.status, exception.code, exception.message, exception.details),
      retryAfter: exception.retryAfter,
      internal: exception.status >= 500 && exception.code === 'INTERNAL',
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status >= 500) return { body: build(500, 'INTERNAL', 'internal error'), internal: true };
    const response = exception.getResponse();
    let message = exception.message;
    let details: unknown[] | undefined;
    if (typeof response === 'object' && response !== null && 'message' in response) {
      const m = (response as { message: unknown }).message;
      if (Array.isArray(m)) {
        details = m;
        message = 'the request body is not valid';
      } else if (typeof m === 'string') {
        message = m;
      }
    }
    if (status === 404) message = message.replace(/^Cannot (\w+) (.*)$/, 'no route $1 $2');
    const code = codeForStatus(status);
    if (code === 'VALIDATION_FAILED' && details === undefined) details = [{ field: '(request)', problem: message }];
    return { body: build(status, code, message, details), internal: false };
  }
  // Fastify's errors (bad JSON body, body too large, wrong content type) carry a 4xx statusCode.
  const fastifyStatus = (exception as { statusCode?: unknown } | null)?.statusCode;
  const fastifyCode = (exception as { code?: unknown } | null)?.code;
  if (typeof fastifyCode === 'string' && UNREADABLE_URL.has(fastifyCode)) {
    return { body: build(400, 'INVALID_REQUEST', UNREADABLE_URL.get(fastifyCode)!), internal: false };
  }
  if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
    const message = String((exception as Error).message);
    const code = codeForStatus(fastifyStatus);
    return {
      body: build(fastifyStatus, code, message, code === 'VALIDATION_FAILED' ? [{ field: '(body)', problem: message }] : undefined),
      internal: false,
    };
  }
  return { body: build(500, 'INTERNAL', 'internal error; see the service log'), internal: true };
}
