import { Body, Controller, HttpCode, Logger, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
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
  @ApiProperty({ example: 3000, description: 'after this long every instance that can read the database has dropped what it held of the partition' })
  appliedByAllWithinMs: number;
}

class RebasePartitionDto {
  @ApiProperty({ example: 2, description: 'partition database, by its idx in the new layout' }) idx: number;
  @ApiProperty({ example: 'mysql://user:pass@db2:3306/ids', description: "the partition's database, mysql:// or postgres:// (never logged or echoed)" }) url: string;
}

class PartitionRebaseDto {
  @ApiPropertyOptional({ example: 2, description: 'partitions in the new layout (default: the current total)' }) total?: number;
  @ApiPropertyOptional({ example: 500, description: 'ids per segment in the new layout (default: the current size)' }) segmentSize?: number;
  @ApiPropertyOptional({
    type: [RebasePartitionDto],
    description: 'databases of the partitions (old or new layout) this instance does not hold; every one must be reachable',
  })
  partitions?: RebasePartitionDto[];
}

class RebasedPartitionDto {
  @ApiProperty({ example: 1 }) idx: number;
  @ApiProperty({ example: '42', description: 'its first allocation number under the new layout' }) firstAllocation: string;
  @ApiProperty({ type: String, nullable: true, example: '40001', description: 'first id of its first segment; null: retired' }) firstId: string | null;
}

class PartitionRebaseResultDto {
  @ApiProperty({ example: 2 }) version: number;
  @ApiProperty({ example: '5d0c1c8e0b7a4f0f9d1e2a3b4c5d6e7f' }) layoutId: string;
  @ApiProperty({ example: 2 }) total: number;
  @ApiProperty({ example: 500 }) segmentSize: number;
  @ApiProperty({ example: '40001', description: 'every id of the new layout is at or above it, above every id of the old' }) base: string;
  @ApiProperty({ type: [RebasedPartitionDto] }) partitions: RebasedPartitionDto[];
}

/** After a partition's database was restored from a lagging replica: the runbook as an admin action. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin/partitions')
export class PartitionsController {
  private readonly logger = new Logger('Admin');

  constructor(private readonly partition: PartitionGenerator) {}

  @Post('rebase')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'rebasePartitions',
    summary: 'Change the partition layout: a new layout version above every id allocated under the old one (cannot be undone)',
    description:
      'Refused unless every partition of the old and the new layout is reachable (held here or passed in `partitions`). ' +
      'Instances on the old layout stop drawing once they see the new version (their next fetch or poll) and must be restarted ' +
      'with the new total (and the new PARTITION_SEGMENT_SIZE where they set it; unset takes the recorded one); ids they buffered stay valid.',
  })
  @ApiBody({ type: PartitionRebaseDto })
  @ApiOkResponse({ type: PartitionRebaseResultDto })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED', 'VALIDATION_FAILED', 'DATABASE_UNAVAILABLE')
  async rebase(@Body() body: unknown): Promise<PartitionRebaseResultDto> {
    const check = new BodyChecker(body, ['total', 'segmentSize', 'partitions']);
    const current = this.partition.layout;
    const total = check.int('total', 1, 1024);
    const segmentSize = check.int('segmentSize', 1, 100_000_000);
    const extra: { idx: number; url: string }[] = [];
    const list = check.body.partitions;
    if (list !== undefined) {
      if (!Array.isArray(list)) check.fail('partitions', 'must be a list of {"idx","url"}');
      else {
        for (const [i, item] of list.entries()) {
          const ok =
            item !== null &&
            typeof item === 'object' &&
            Object.keys(item).every((k) => k === 'idx' || k === 'url') &&
            Number.isInteger(item.idx) &&
            item.idx >= 1 &&
            item.idx <= 1024 &&
            typeof item.url === 'string' &&
            /^(mysql|mariadb|postgres|postgresql):\/\/[^/]+\/[^/?]+/.test(item.url);
          if (!ok) check.fail(`partitions[${i}]`, 'must be {"idx": 1..1024, "url": "mysql://user:pass@host:3306/db" or "postgres://user:pass@host:5432/db"}');
          else extra.push({ idx: item.idx, url: item.url });
        }
      }
    }
    check.done();
    if (current === undefined) throw new IdError('DATABASE_UNAVAILABLE', 'no partition layout checked on this instance yet');
    const result = await this.partition.rebase({ total: total ?? current.total, segmentSize: segmentSize ?? current.segmentSize }, extra);
    this.logger.log(
      `admin: re-based the partitions to layout version ${result.version} (total ${result.total}, segment size ${result.segmentSize}, base ${result.base}); ` +
        `before: version ${current.version} (total ${current.total}, segment size ${current.segmentSize}, base ${current.base}) (cannot be undone)`,
    );
    return {
      version: result.version,
      layoutId: result.layoutId,
      total: result.total,
      segmentSize: result.segmentSize,
      base: result.base.toString(),
      partitions: result.partitions.map((p) => ({ idx: p.idx, firstAllocation: p.firstAllocation.toString(), firstId: p.firstId?.toString() ?? null })),
    };
  }

  @Post(':idx/skip')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'skipPartition',
    summary: "Move a partition's next segment above an id (never back; cannot be undone)",
    description:
      "Recorded in the partition's database: every instance that holds the partition drops what it holds of it, and resumes it " +
      'if its rollback guard halted it, within SEGMENT_POLL_MS plus a statement timeout. Send it to one instance.',
  })
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
    return {
      idx,
      nextAllocation: result.next.toString(),
      nextSegmentStart: result.firstId.toString(),
      appliedByAllWithinMs: this.partition.skipAppliedWithinMs,
    };
  }
}
