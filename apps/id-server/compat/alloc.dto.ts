import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, getSchemaPath } from '@nestjs/swagger';
import type { ErrorCode } from '@app/core';
import { errorExample, errorResponses } from '../common/error-response.dto';

/** go-id-alloc v1's answer. */
export class AllocResponseDto {
  @ApiProperty({ type: 'integer', enum: [0], example: 0 }) Errno: 0;
  @ApiProperty({ type: 'string', enum: [''], example: '' }) Msg: '';
  @ApiProperty({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, example: 130000001, description: 'a JSON number, at most 2^53-1' })
  Id: number;
}

/** go-id-alloc v1's failure shape (on every failing status of /alloc). */
export class AllocFailureDto {
  @ApiProperty({ type: 'integer', enum: [-1], example: -1 }) Errno: -1;
  @ApiProperty({ example: 'SEGMENT_UNAVAILABLE: no partition could hand out a segment', description: '"<code>: <message>"' }) Msg: string;
  @ApiProperty({ type: 'integer', enum: [0], example: 0 }) Id: 0;
}

export function allocFailure(code: ErrorCode): AllocFailureDto {
  return { Errno: -1, Msg: `${code}: ${errorExample(code).message}`, Id: 0 };
}

/** /alloc's error responses: go-id-alloc's shape, not ours. */
export const ApiAllocErrors = (...codes: ErrorCode[]) =>
  applyDecorators(
    ApiExtraModels(AllocFailureDto),
    errorResponses(codes, () => ({ schema: { $ref: getSchemaPath(AllocFailureDto) }, example: allocFailure })),
  );
