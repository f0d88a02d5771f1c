import { ApiProperty } from '@nestjs/swagger';
import type { ApiParamOptions, ApiQueryOptions } from '@nestjs/swagger';

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

export class IdsResponseDto {
  @ApiProperty({ enum: STRATEGY_NAMES, enumName: 'Strategy', example: 'segment' })
  strategy: StrategyName;

  @ApiProperty({ example: 'default' })
  key: string;

  @ApiProperty({
    type: [String],
    example: ['1001', '1002'],
    description: 'decimal strings (64-bit values do not fit a JSON number), or uuid strings',
  })
  ids: string[];
}
