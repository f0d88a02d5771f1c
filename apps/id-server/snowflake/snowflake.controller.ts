import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiTags } from '@nestjs/swagger';
import { SnowflakeIdGenerator } from '@app/snowflake';
import { ApiErrors } from '../common/error-response.dto';

export class DecodedSnowflakeResponseDto {
  @ApiProperty({ example: '1234567890123456789', description: 'the id as given, normalised' })
  id: string;

  @ApiProperty({ example: '2026-01-01T00:00:00.123Z', description: 'ISO 8601, the millisecond the id was issued in' })
  timestamp: string;

  @ApiProperty({ example: 17 })
  workerId: number;

  @ApiProperty({ example: 42 })
  sequence: number;
}

/** Reads a snowflake id back: when it was made, by which worker id, at which sequence. */
@ApiTags('ids')
@Controller('ids/snowflake')
export class SnowflakeController {
  constructor(private readonly snowflake: SnowflakeIdGenerator) {}

  @Get(':id/decode')
  @ApiOperation({
    summary: 'Decode a snowflake id',
    description: 'timestamp, worker id and sequence of a snowflake id, by this instance’s SNOWFLAKE_BITS and SNOWFLAKE_EPOCH',
  })
  @ApiParam({ name: 'id', description: 'decimal, 0 to 2^63-1 (9223372036854775807)', example: '1234567890123456789' })
  @ApiOkResponse({ type: DecodedSnowflakeResponseDto })
  @ApiErrors('INVALID_ID')
  decode(@Param('id') id: string): DecodedSnowflakeResponseDto {
    return this.snowflake.decode(id);
  }
}
