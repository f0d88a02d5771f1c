import { applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import type { Type } from '@nestjs/common';

/*
 * Our readiness and liveness bodies (Terminus's shape: status, info, error, details), each part
 * described as the strategies report it (DESIGN.md, "Readiness"). Terminus's own documentation
 * is switched off: its stock example lists checks this service does not have.
 */

const UP_DOWN = { enum: ['up', 'down'], enumName: 'PartStatus' } as const;

export class DatabasePartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ example: 'connect ECONNREFUSED 127.0.0.1:3306', description: 'the last failure, while down' }) message?: string;
}

export class DatabaseHostPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiProperty({ example: '2 of 3', description: 'which host of DATABASE_URL is in use (README "High availability"); never its address' })
  host: string;
}

export class InstancePartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ type: 'integer', example: 4242 }) pid?: number;
  @ApiPropertyOptional({ example: 'shutting down' }) reason?: string;
}

export class SegmentKeyPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiProperty({ type: 'integer', example: 1500, description: 'ids buffered here' }) idsLeft: number;
  @ApiPropertyOptional({ example: 'rollback: fetched segment starting at 1001, below the watermark 5001; needs an admin skip' }) reason?: string;
}

export class SegmentPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ example: 'no id buffered for any key in use and the database is unavailable' }) reason?: string;
  @ApiProperty({ type: DatabasePartDto }) database: DatabasePartDto;
  @ApiProperty({ type: 'integer', example: 3 }) keysInUse: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/SegmentKeyPartDto' },
    description: 'keys in use here, by name (the first 100)',
    example: { orders: { status: 'up', idsLeft: 1500 } },
  })
  keys: Record<string, SegmentKeyPartDto>;
}

export class PartitionStatePartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ example: 'rolled back: handed out segment 10, below 12; needs an admin skip' }) reason?: string;
}

export class PartitionPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ example: 'no id buffered and no partition reachable' }) reason?: string;
  @ApiProperty({ type: 'integer', example: 800 }) idsLeft: number;
  @ApiProperty({ example: 0.000001, description: 'share of 2^53 (the /alloc ceiling) reached' }) spaceUsed: number;
  @ApiPropertyOptional({ example: 'the partitioned sequence has used 81.0% of 2^53 (the /alloc ceiling)' }) warning?: string;
  @ApiProperty({ type: 'integer', example: 2, description: 'TotalPartition' }) total: number;
  @ApiPropertyOptional({ type: 'integer', example: 100000, description: 'the recorded layout\'s; absent until a partition\'s record is checked' }) segmentSize?: number;
  @ApiProperty({ type: 'integer', example: 1, description: 'the partition this instance prefers' }) preferred: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/PartitionStatePartDto' },
    description: 'partitions this instance holds, by index',
    example: { '1': { status: 'up' }, '2': { status: 'down', reason: 'connect ECONNREFUSED' } },
  })
  partitions: Record<string, PartitionStatePartDto>;
}

export class TicketPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiProperty({ type: DatabasePartDto }) database: DatabasePartDto;
}

export class SnowflakeLeaseDto {
  @ApiProperty() held: boolean;
  @ApiProperty({ description: 'renewed, and the clock past the previous holder’s reservation' }) fresh: boolean;
  @ApiPropertyOptional({ format: 'date-time', example: '2026-12-01T21:40:40.651Z' }) reservedUntil?: string;
  @ApiPropertyOptional({ type: 'integer', example: 767 }) lastRenewMsAgo?: number;
  @ApiPropertyOptional({ type: 'integer', example: 1023, description: 'free worker ids in the pool' }) poolFree?: number;
  @ApiPropertyOptional({ example: 1, description: "this clock minus the database's, ms" }) clockOffsetMs?: number;
}

export class SnowflakePartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiPropertyOptional({ example: 'the clock is 40 ms behind the last issued timestamp' }) reason?: string;
  @ApiPropertyOptional({ example: 'the snowflake layout ends 2027-01-01T00:00:00.000Z, under a year from now: plan a new epoch or layout' }) warning?: string;
  @ApiProperty({ type: 'integer', nullable: true, example: 17 }) workerId: number | null;
  @ApiProperty({ example: 'lease', description: 'lease, static or ordinal' }) workerIdMode: string;
  @ApiProperty({ example: '41,10,12', description: 'time, worker, sequence bits' }) layout: string;
  @ApiProperty({ format: 'date-time', example: '2025-01-01T00:00:00.000Z' }) epoch: string;
  @ApiProperty({ format: 'date-time', example: '2094-09-07T15:47:35.551Z', description: 'the layout’s end of life' }) lastValidDate: string;
  @ApiProperty({ example: 67.77 }) yearsLeft: number;
  @ApiProperty({ type: SnowflakeLeaseDto }) lease: SnowflakeLeaseDto;
  @ApiProperty({ type: 'integer', example: 0 }) clockBehindMs: number;
}

export class UuidPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiProperty({ type: 'integer', enum: [4, 7], example: 4 }) version: 4 | 7;
}

/** One entry per check: the instance itself, then each strategy. */
export class ReadinessPartsDto {
  @ApiPropertyOptional({ type: InstancePartDto }) instance?: InstancePartDto;
  @ApiPropertyOptional({ type: DatabaseHostPartDto, description: 'on MySQL and PostgreSQL' }) database?: DatabaseHostPartDto;
  @ApiPropertyOptional({ type: SegmentPartDto }) segment?: SegmentPartDto;
  @ApiPropertyOptional({ type: PartitionPartDto }) partition?: PartitionPartDto;
  @ApiPropertyOptional({ type: TicketPartDto }) ticket?: TicketPartDto;
  @ApiPropertyOptional({ type: SnowflakePartDto }) snowflake?: SnowflakePartDto;
  @ApiPropertyOptional({ type: UuidPartDto }) uuid?: UuidPartDto;
  @ApiPropertyOptional({ type: UuidPartDto }) uuidv7?: UuidPartDto;
}

export class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'], example: 'ok', description: '"ok" with 200; otherwise 503' })
  status: 'ok' | 'error' | 'shutting_down';
  @ApiPropertyOptional({ type: ReadinessPartsDto, description: 'the parts that are up' }) info?: ReadinessPartsDto;
  @ApiPropertyOptional({ type: ReadinessPartsDto, description: 'the parts that are down' }) error?: ReadinessPartsDto;
  @ApiProperty({ type: ReadinessPartsDto, description: 'every part' }) details: ReadinessPartsDto;
}

export class ProcessPartDto {
  @ApiProperty(UP_DOWN) status: 'up' | 'down';
  @ApiProperty({ type: 'integer', example: 3600 }) uptimeSeconds: number;
}

export class LivenessPartsDto {
  @ApiProperty({ type: ProcessPartDto }) process: ProcessPartDto;
}

export class LivenessDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' }) status: 'ok';
  @ApiPropertyOptional({ type: LivenessPartsDto }) info?: LivenessPartsDto;
  @ApiPropertyOptional({ type: LivenessPartsDto }) error?: LivenessPartsDto;
  @ApiProperty({ type: LivenessPartsDto }) details: LivenessPartsDto;
}

const NOT_READY_SNOWFLAKE: SnowflakePartDto = {
  status: 'down',
  reason: 'the worker-id lease could not be renewed',
  workerId: 17,
  workerIdMode: 'lease',
  layout: '41,10,12',
  epoch: '2025-01-01T00:00:00.000Z',
  lastValidDate: '2094-09-07T15:47:35.551Z',
  yearsLeft: 67.77,
  lease: { held: true, fresh: false, reservedUntil: '2026-12-01T21:40:40.651Z', lastRenewMsAgo: 3200 },
  clockBehindMs: 0,
};

/** 200 when this instance can issue, 503 (same body) when it cannot. */
export const ApiHealthResponses = (type: Type<unknown>, unavailable: boolean) =>
  applyDecorators(
    ApiOkResponse({ type }),
    ...(unavailable
      ? [
          ApiServiceUnavailableResponse({
            type,
            description: 'not ready: the parts that are down say why',
            examples: {
              lease: {
                summary: 'no valid snowflake lease',
                value: {
                  status: 'error',
                  info: { instance: { status: 'up', pid: 4242 } },
                  error: { snowflake: NOT_READY_SNOWFLAKE },
                  details: { instance: { status: 'up', pid: 4242 }, snowflake: NOT_READY_SNOWFLAKE },
                },
              },
            },
          }),
        ]
      : []),
  );
