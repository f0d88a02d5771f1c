import { ApiProperty } from '@nestjs/swagger';

/** what every id answer names */
class IdsAnswerDto {
  @ApiProperty({ example: 'segment' })
  strategy: string;

  @ApiProperty({ example: 'default' })
  key: string;
}

export class IdsResponseDto extends IdsAnswerDto {
  @ApiProperty({
    type: [String],
    example: ['1001', '1002'],
    description: 'decimal strings (64-bit values do not fit a JSON number), or uuid strings',
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
