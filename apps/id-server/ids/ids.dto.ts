import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The query of GET /ids/:strategy; parsed by parseIdsQuery, which rejects any other parameter. */
export class IdsQueryDto {
  @ApiPropertyOptional({ description: '^[A-Za-z0-9_.:-]{1,128}$, default "default"', example: 'default' })
  key?: string;

  @ApiPropertyOptional({ description: '1..MAX_COUNT (10000), default 1', example: '1' })
  count?: string;
}

export class IdsResponseDto {
  @ApiProperty({ example: 'segment' })
  strategy: string;

  @ApiProperty({ example: 'default' })
  key: string;

  @ApiProperty({
    type: [String],
    example: ['1001', '1002'],
    description: 'decimal strings (64-bit values do not fit a JSON number), or uuid strings',
  })
  ids: string[];
}
