import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { AdminGuard } from '@app/core';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { SnowflakeIdGenerator } from '@app/snowflake';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';

export class DecodedSnowflakeResponseDto {
  @ApiProperty({ example: '1234567890123456789', description: 'the id as given, normalised' })
  id: string;

  @ApiProperty({ example: '2026-01-01T00:00:00.123Z', description: 'ISO 8601, the millisecond the id was issued in' })
  timestamp: string;

  @ApiPropertyOptional({ example: 17, description: 'absent when SNOWFLAKE_PERMUTE hides the low bits' })
  workerId?: number;

  @ApiPropertyOptional({ example: 42, description: 'absent when SNOWFLAKE_PERMUTE hides the low bits' })
  sequence?: number;
}

/** Reads a snowflake id back: when it was made, by which worker id, at which sequence. */
@ApiTags('ids')
@Controller('ids/snowflake')
export class SnowflakeController {
  constructor(private readonly snowflake: SnowflakeIdGenerator) {}

  @Get(':id/decode')
  @ApiOperation({
    operationId: 'decodeSnowflakeId',
    summary: 'Decode a snowflake id',
    description:
      'timestamp, worker id and sequence of a snowflake id, by this instance’s SNOWFLAKE_BITS and SNOWFLAKE_EPOCH; ' +
      'with SNOWFLAKE_PERMUTE only the timestamp (the full decode is GET /admin/snowflake/{id}/decode)',
  })
  @ApiParam({ name: 'id', description: 'decimal, 0 to 2^63-1 (9223372036854775807)', example: '1234567890123456789' })
  @ApiOkResponse({ type: DecodedSnowflakeResponseDto })
  @ApiErrors('INVALID_ID')
  decode(@Param('id') id: string): DecodedSnowflakeResponseDto {
    return this.snowflake.decode(id);
  }
}

/** The full decode, the low-bit permutation undone: for people who hold the admin token. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin/snowflake')
export class SnowflakeAdminController {
  constructor(private readonly snowflake: SnowflakeIdGenerator) {}

  @Get(':id/decode')
  @ApiOperation({ operationId: 'decodeSnowflakeIdFully', summary: 'Decode a snowflake id with every field, SNOWFLAKE_PERMUTE undone' })
  @ApiParam({ name: 'id', description: 'decimal, 0 to 2^63-1', example: '1234567890123456789' })
  @ApiOkResponse({ type: DecodedSnowflakeResponseDto })
  @ApiErrors('INVALID_ID', 'UNAUTHORIZED', 'ADMIN_DISABLED')
  decode(@Param('id') id: string): DecodedSnowflakeResponseDto {
    return this.snowflake.decodeFull(id);
  }
}
