import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { STRATEGY_NAMES, StrategyName } from '../ids/ids.dto';

export type SettingValue = string | number | boolean;

/** GET /admin/info: what this instance runs with. */
export class DatabaseHostsDto {
  @ApiProperty({ example: '2 of 3' }) inUse: string;
  @ApiProperty({ type: [String], example: ['db-0:3306', 'db-1:3306', 'db-2:3306'], description: 'the hosts of DATABASE_URL, in order' })
  hosts: string[];
  @ApiProperty({ type: 'integer', example: 1, description: 'index of the host in use' }) active: number;
  @ApiPropertyOptional({ example: 'left 1 of 3: no connection: connect ECONNREFUSED', description: 'why the last move happened' })
  lastMove?: string;
}

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

  @ApiPropertyOptional({ type: DatabaseHostsDto, description: 'on MySQL and PostgreSQL: the database hosts and which is in use (README "High availability")' })
  database?: DatabaseHostsDto;
}
