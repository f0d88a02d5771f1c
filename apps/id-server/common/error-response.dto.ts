import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { HeadersObject, ReferenceObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { STATUS_CODES } from 'node:http';
import { ERROR_CODES, ERROR_STATUS, ErrorCode } from '@app/core';

/** One problem of a rejected request, naming the field (VALIDATION_FAILED and friends). */
export class FieldProblemDto {
  @ApiProperty({ example: 'step', description: 'the field, or "(body)" / "(request)" for the whole' })
  field: string;

  @ApiProperty({ example: 'must be a whole number from 1 to 1000000' })
  problem: string;
}

/** DESIGN.md's error shape, for the OpenAPI document. */
export class ErrorResponseDto {
  @ApiProperty({ example: 404, description: 'the HTTP status, repeated' })
  statusCode: number;

  @ApiProperty({ example: 'Not Found', description: "the status's reason phrase" })
  error: string;

  @ApiProperty({ enum: ERROR_CODES, enumName: 'ErrorCode', example: 'UNKNOWN_KEY', description: 'stable; match on this, not on the message' })
  code: ErrorCode;

  @ApiProperty({ example: 'unknown key "orders"; create it with POST /admin/segments' })
  message: string;

  @ApiPropertyOptional({ type: [FieldProblemDto], description: 'per-field problems (admin bodies)' })
  details?: FieldProblemDto[];
}

/** Seconds to wait before trying again: on every 503 (DESIGN.md, "Errors"). */
export const RETRY_AFTER_HEADER: HeadersObject = {
  'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 1, example: 1 } },
};

/** What each code's answer looks like: one example per code, under the status it answers with. */
const EXAMPLE_MESSAGES: Record<ErrorCode, { message: string; details?: FieldProblemDto[] }> = {
  UNKNOWN_STRATEGY: { message: 'unknown strategy "snowflak"; this build has: segment, partition, ticket, snowflake, uuid, uuidv7' },
  UNKNOWN_KEY: { message: 'unknown key "orders"; create it with POST /admin/segments' },
  NOT_FOUND: { message: 'partition 3 is not held by this instance' },
  INVALID_KEY: { message: 'key: 1 to 128 characters of A-Z a-z 0-9 _ . : -' },
  INVALID_COUNT: { message: 'count: a whole number from 1 to 10000, digits only' },
  INVALID_FORMAT: { message: 'format=ranges: uuid ids are not consecutive; only segment (plain keys) and partition answer ranges' },
  INVALID_ID: { message: 'id: a decimal snowflake id from 0 to 9223372036854775807, digits only' },
  INVALID_STEP: { message: 'step: must be a whole number from 1 to 1000000', details: [{ field: 'step', problem: 'must be a whole number from 1 to 1000000' }] },
  INVALID_START: { message: 'startId: must be from 1 to 9223372036854775806', details: [{ field: 'startId', problem: 'must be from 1 to 9223372036854775806' }] },
  SKIP_BACKWARDS: { message: 'key "orders" already issues from 5000; {"to": 10} would move it back (skips only move ahead): the smallest accepted is {"to": 5000}' },
  VALIDATION_FAILED: { message: '(body): give by or to, not both', details: [{ field: '(body)', problem: 'give by or to, not both' }] },
  UNAUTHORIZED: { message: 'admin routes need the header "Authorization: Bearer <ADMIN_TOKEN>"' },
  ADMIN_DISABLED: { message: 'admin routes are disabled: set ADMIN_TOKEN (16+ characters) to enable them' },
  FORBIDDEN: { message: 'this token is not granted key "orders"' },
  KEY_EXISTS: { message: 'key "orders" already exists' },
  IDEMPOTENCY_IN_PROGRESS: { message: 'a request with this Idempotency-Key is still being answered; retry shortly for its answer' },
  IDEMPOTENCY_KEY_REUSED: { message: 'this Idempotency-Key was used with other parameters (strategy, key, count or format); use a new key for a new request' },
  SEGMENT_UNAVAILABLE: { message: 'no ids buffered for key "orders" within 2000 ms: database unavailable' },
  DATABASE_UNAVAILABLE: { message: 'database unavailable: connect ECONNREFUSED 127.0.0.1:3306' },
  CLOCK_BACKWARDS: { message: 'snowflake: the clock is 40 ms behind the last issued timestamp' },
  WORKER_LEASE_LOST: { message: 'snowflake cannot issue: the worker-id lease could not be renewed' },
  ID_SPACE_EXHAUSTED: { message: 'key "orders" would pass 9223372036854775807 (2^63-1)' },
  UNKNOWN_PARAMETER: {
    message: 'unknown query parameter "Key"; this route takes key and count',
    details: [{ field: 'Key', problem: 'unknown parameter' }],
  },
  INVALID_REQUEST: { message: 'the URL is not valid percent-encoding' },
  METHOD_NOT_ALLOWED: { message: 'the id routes answer GET only: a HEAD would spend ids' },
  SHUTTING_DOWN: { message: 'this instance is shutting down; ask another one' },
  INTERNAL: { message: 'internal error; see the service log' },
};

export function errorExample(code: ErrorCode): ErrorResponseDto {
  const status = ERROR_STATUS[code];
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, ...EXAMPLE_MESSAGES[code] };
}

/**
 * One documented response per status for the given codes, each with one example per code;
 * 503s declare Retry-After. `content` builds the body's schema and example for a status.
 */
export function errorResponses(
  codes: ErrorCode[],
  content: (status: number, codes: ErrorCode[]) => { schema: SchemaObject | ReferenceObject; example: (code: ErrorCode) => unknown },
): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, list]) => {
      const { schema, example } = content(status, list);
      return ApiResponse({
        status,
        description: list.join(', ') + (status === 503 ? ' (with Retry-After, seconds)' : ''),
        ...(status === 503 ? { headers: RETRY_AFTER_HEADER } : {}),
        content: {
          'application/json': {
            schema,
            examples: Object.fromEntries(list.map((code) => [code, { summary: code, value: example(code) }])),
          },
        },
      });
    }),
  );
}

/**
 * Our JSON error responses: the schema narrows `code` and `statusCode` to what that status
 * carries on this route, so a generated client can switch on them.
 */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto, FieldProblemDto),
    errorResponses(codes, (status, list) => ({
      schema: {
        allOf: [
          { $ref: getSchemaPath(ErrorResponseDto) },
          {
            type: 'object',
            required: ['statusCode', 'code'],
            properties: { statusCode: { type: 'integer', enum: [status] }, code: { type: 'string', enum: list } },
          },
        ],
      },
      example: errorExample,
    })),
  );
}
