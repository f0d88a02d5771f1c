import { ApiProperty } from '@nestjs/swagger';
import { STRATEGY_NAMES, StrategyName } from '../ids/ids.dto';

export type SettingValue = string | number | boolean;

/** GET /admin/info: what this instance runs with. */
export class AdminInfoDto {
  @ApiProperty({ enum: STRATEGY_NAMES, enumName: 'Strategy', isArray: true, example: ['segment', 'snowflake', 'uuidv7'] })
  strategies: StrategyName[];

  @ApiProperty({ type: 'integer', example: 4242, description: 'process id of the instance that answered' })
  pid: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
    example: { PORT: 8080, DB_TYPE: 'mysql', DATABASE_URL: '(set)', SEGMENT_DYNAMIC_STEP: true },
    description: 'effective settings by variable name (README "Configuration"); secrets show as "(set)"',
  })
  settings: Record<string, SettingValue>;
}
