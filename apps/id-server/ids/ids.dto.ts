import { ApiProperty } from '@nestjs/swagger';

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
