import { applyDecorators } from '@nestjs/common';
import { ApiParam, ApiProperty, ApiQuery } from '@nestjs/swagger';
import type { ApiParamOptions, ApiQueryOptions } from '@nestjs/swagger';
import type { ErrorCode } from '@app/core';

/** The strategies this build registers (test/openapi.e2e-spec.ts checks them against a live registry). */
export const STRATEGY_NAMES = ['segment', 'partition', 'ticket', 'snowflake', 'uuid', 'uuidv7'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const STRATEGY_PARAM: ApiParamOptions = {
  name: 'strategy',
  enum: STRATEGY_NAMES,
  enumName: 'Strategy',
  description: 'segment (Leaf), partition (go-id-alloc), ticket (Flickr), snowflake, uuid (v4) or uuidv7',
  example: 'segment',
};

export const KEY_QUERY: ApiQueryOptions = {
  name: 'key',
  required: false,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', default: 'default', example: 'default' },
  description: 'the business tag for segment; checked and echoed by the others (one sequence serves all keys)',
};

export const COUNT_QUERY: ApiQueryOptions = {
  name: 'count',
  required: false,
  schema: { type: 'integer', minimum: 1, default: 1, example: 10 },
  description: 'how many ids, 1 to MAX_COUNT (10000 by default); digits only',
};

export const FORMAT_QUERY: ApiQueryOptions = {
  name: 'format',
  required: false,
  enum: ['ids', 'ranges'],
  description:
    'ids (default): a list; ranges: consecutive [first, last] pairs, for segment (plain keys) and partition only (INVALID_FORMAT otherwise)',
};

/** what every id answer names */
class IdsAnswerDto {
  @ApiProperty({ enum: STRATEGY_NAMES, enumName: 'Strategy', example: 'segment' })
  strategy: StrategyName;

  @ApiProperty({ example: 'default' })
  key: string;
}

export class IdsResponseDto extends IdsAnswerDto {

  @ApiProperty({
    type: [String],
    example: ['1001', '1002'],
    description: "decimal strings (64-bit values do not fit a JSON number), uuid strings, or a formatted key's business numbers (INV-20261207-0000427)",
  })
  ids: string[];
}

/** format=ranges: the same ids as consecutive ranges (segment plain keys and partition) */
export class IdsRangesResponseDto extends IdsAnswerDto {
  @ApiProperty({
    type: 'array',
    items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
    example: [['1001', '2000']],
    description: '[first, last] inclusive, decimal strings, in issue order; together exactly count ids',
  })
  ranges: [string, string][];
}

/** the query of GET and POST /ids/:strategy, documented once */
export const ApiIssueQuery = () => applyDecorators(ApiParam(STRATEGY_PARAM), ApiQuery(KEY_QUERY), ApiQuery(COUNT_QUERY), ApiQuery(FORMAT_QUERY));

/** the errors both id routes answer (POST adds its own) */
export const ISSUE_ERRORS = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'INVALID_KEY',
  'INVALID_COUNT',
  'INVALID_FORMAT',
  'UNKNOWN_PARAMETER',
  'UNKNOWN_STRATEGY',
  'UNKNOWN_KEY',
  'ID_SPACE_EXHAUSTED',
  'SEGMENT_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
  'CLOCK_BACKWARDS',
  'WORKER_LEASE_LOST',
  'SHUTTING_DOWN',
] as const satisfies readonly ErrorCode[];
