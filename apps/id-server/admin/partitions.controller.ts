import { Body, Controller, HttpCode, Logger, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { AdminGuard, IdError } from '@app/core';
import { PARTITION_MAX_ID, PartitionGenerator } from '@app/segment';
import { ID_INPUT } from './segments.dto';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { BodyChecker } from './admin-body';

class PartitionSkipDto {
  @ApiProperty({ ...ID_INPUT, example: '5000000', description: "the partition's next segment starts above this id" })
  to: string | number;
}

class PartitionSkipResultDto {
  @ApiProperty({ type: 'integer', example: 2 }) idx: number;
  @ApiProperty({ example: '12', description: 'allocation number the partition hands out next' }) nextAllocation: string;
  @ApiProperty({ example: '5000001', description: "first id of the partition's next segment" }) nextSegmentStart: string;
}

/** After a partition's database was restored from a lagging replica: the runbook as an admin action. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin/partitions')
export class PartitionsController {
  private readonly logger = new Logger('Admin');

  constructor(private readonly partition: PartitionGenerator) {}

  @Post(':idx/skip')
  @HttpCode(200)
  @ApiOperation({ operationId: 'skipPartition', summary: "Move a partition's next segment above an id (never back; cannot be undone)" })
  @ApiBody({ type: PartitionSkipDto })
  @ApiOkResponse({ type: PartitionSkipResultDto })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED', 'VALIDATION_FAILED', 'SKIP_BACKWARDS', 'NOT_FOUND', 'DATABASE_UNAVAILABLE')
  async skip(@Param('idx') idxText: string, @Body() body: unknown): Promise<PartitionSkipResultDto> {
    if (!/^[1-9][0-9]{0,3}$/.test(idxText)) throw new IdError('VALIDATION_FAILED', 'idx: a partition number', { details: [{ field: 'idx', problem: 'not a partition number' }] });
    const idx = Number(idxText);
    if (!this.partition.holds(idx)) throw new IdError('NOT_FOUND', `partition ${idx} is not held by this instance`);
    const check = new BodyChecker(body, ['to']);
    const to = check.bigint('to', 0n, PARTITION_MAX_ID);
    if (!check.has('to')) check.fail('to', 'required');
    check.done();
    const result = await this.partition.skip(idx, to!);
    this.logger.log(`admin: skipped partition ${idx} above id ${to}: next allocation ${result.next}, next segment starts at ${result.firstId} (cannot be undone)`);
    return { idx, nextAllocation: result.next.toString(), nextSegmentStart: result.firstId.toString() };
  }
}
