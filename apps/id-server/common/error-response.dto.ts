import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { ERROR_CODES, ERROR_STATUS, ErrorCode } from '@app/core';

/** DESIGN.md's error shape, for the OpenAPI document. */
export class ErrorResponseDto {
  @ApiProperty({ example: 404 })
  statusCode: number;

  @ApiProperty({ example: 'Not Found' })
  error: string;

  @ApiProperty({ enum: ERROR_CODES, example: 'UNKNOWN_KEY', description: 'stable; match on this, not on the message' })
  code: ErrorCode;

  @ApiProperty({ example: 'unknown key "orders"' })
  message: string;

  @ApiPropertyOptional({ type: 'array', items: { type: 'object' }, description: 'per-field problems (VALIDATION_FAILED)' })
  details?: unknown[];
}

/** One documented error response per status, listing the codes that answer with it. */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ...[...byStatus].map(([status, list]) =>
      ApiResponse({
        status,
        type: ErrorResponseDto,
        description: list.join(', ') + (status === 503 ? ' (with Retry-After, seconds)' : ''),
      }),
    ),
  );
}
