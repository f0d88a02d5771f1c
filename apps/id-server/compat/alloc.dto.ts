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

/** go-id-alloc's current version: GET /alloc?biz_tag=X. */
export class TagAllocResponseDto {
  @ApiProperty({ type: 'integer', enum: [0], example: 0 }) errno: 0;
  @ApiProperty({ type: 'string', enum: ['success'], example: 'success' }) msg: 'success';
  @ApiProperty({ type: 'integer', minimum: 1, example: 201, description: 'exact int64 digits (JSON.parse rounds them above 2^53)' })
  id: number;
}

/** go-id-alloc's current version: GET /health?biz_tag=X. */
export class TagHealthResponseDto {
  @ApiProperty({ type: 'integer', enum: [0], example: 0 }) errno: 0;
  @ApiProperty({ type: 'string', enum: ['success'], example: 'success' }) msg: 'success';
  @ApiProperty({ type: 'integer', minimum: 0, example: 2, description: 'ids buffered for the tag in this process; 1 or 0 for a public key' })
  left: number;
}

/** go-id-alloc's current failure shape on /health?biz_tag=X. */
export class TagHealthFailureDto {
  @ApiProperty({ type: 'integer', enum: [-1], example: -1 }) errno: -1;
  @ApiProperty({ example: 'UNKNOWN_KEY: unknown key "test"', description: '"<code>: <message>"' }) msg: string;
  @ApiProperty({ type: 'integer', enum: [0], example: 0 }) left: 0;
}

/** /health?biz_tag's error responses: go-id-alloc's shape, with our statuses. */
export const ApiTagHealthErrors = (...codes: ErrorCode[]) =>
  applyDecorators(
    ApiExtraModels(TagHealthFailureDto),
    errorResponses(codes, () => ({
      schema: { $ref: getSchemaPath(TagHealthFailureDto) },
      example: (code: ErrorCode) => ({ errno: -1, msg: `${code}: ${errorExample(code).message}`, left: 0 }),
    })),
  );
