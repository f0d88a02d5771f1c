import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const ID = { type: 'string', example: '1001', description: 'exact decimal; JSON numbers accepted up to 2^53-1' } as const;

export class SegmentKeyDto {
  @ApiProperty({ example: 'orders' }) key: string;
  @ApiProperty({ example: '1001', description: 'the next segment starts here' }) maxId: string;
  @ApiProperty({ example: 1000, description: 'stored step (the floor of the dynamic step)' }) step: number;
  @ApiProperty({ type: String, nullable: true, example: 'order numbers' }) description: string | null;
  @ApiProperty({ example: '2026-11-21T17:00:00.000Z' }) updatedAt: string;
  @ApiProperty({ example: false }) public: boolean;
  @ApiProperty({ example: '1001', description: 'the highest max_id the key was seen to reach; a key created again must start above it' })
  highWater: string;
}

export class SkipResultDto extends SegmentKeyDto {
  @ApiProperty({
    example: 3000,
    description: 'after this many ms no instance that can read the database issues an id the skip left behind (poll period + statement timeout)',
  })
  appliedByAllWithinMs: number;
}

export class SkipStatusDto {
  @ApiProperty({ enum: ['up', 'down'], description: 'down: this instance has not read the table for longer than appliedByAllWithinMs' })
  status: 'up' | 'down';
  @ApiProperty({ example: 400 }) lastOkAgoMs: number;
  @ApiPropertyOptional({ example: 'skip status unknown: ...' }) message?: string;
}

export class SegmentRangeDto {
  @ApiProperty({ example: '1001' }) start: string;
  @ApiProperty({ example: '2001' }) end: string;
  @ApiProperty({ example: '1500', description: 'next id this buffer issues' }) next: string;
}

export class SegmentBufferDto {
  @ApiProperty({ type: SegmentRangeDto, nullable: true }) current: SegmentRangeDto | null;
  @ApiProperty({ type: SegmentRangeDto, nullable: true }) nextSegment: SegmentRangeDto | null;
  @ApiProperty({ example: 2000 }) stepInUse: number;
  @ApiProperty({ type: Number, nullable: true, example: 3, description: 'ms the last fetch took' }) lastFetchMs: number | null;
  @ApiProperty({ example: 1500 }) idsLeft: number;
  @ApiProperty() ready: boolean;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
}

export class SegmentListingDto extends SegmentKeyDto {
  @ApiProperty({ type: SegmentBufferDto, nullable: true, description: "this instance's buffer; null when not in use here" })
  buffer: SegmentBufferDto | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: '25001',
    description: 'for a key halted by the rollback guard: the smallest {"to": N} every live instance accepts',
  })
  requiredSkipTarget: string | null;
}

export class SegmentListDto {
  @ApiProperty({ type: [SegmentListingDto] }) segments: SegmentListingDto[];
  @ApiProperty({ type: SkipStatusDto, description: "whether this instance's poll sees skips in time" }) skips: SkipStatusDto;
}

export class CreateSegmentDto {
  @ApiProperty({ example: 'orders', pattern: '^[A-Za-z0-9_.:-]{1,128}$' }) key: string;
  @ApiPropertyOptional({ ...ID, description: 'the first id issued (default 1)' }) startId?: string;
  @ApiPropertyOptional({ example: 1000, description: '1..SEGMENT_STEP_MAX (default 1000)' }) step?: number;
  @ApiPropertyOptional({ example: 'order numbers', maxLength: 256 }) description?: string;
  @ApiPropertyOptional({ example: false, description: 'unguessable ids (needs ID_SECRET)' }) public?: boolean;
}

export class UpdateSegmentDto {
  @ApiPropertyOptional({ example: 2000 }) step?: number;
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 256 }) description?: string | null;
}

export class SkipSegmentDto {
  @ApiPropertyOptional({ ...ID, description: 'move max_id ahead by this many ids' }) by?: string;
  @ApiPropertyOptional({ ...ID, description: 'ids issued afterwards are all above this one' }) to?: string;
}

export class RevealDto {
  @ApiProperty({ ...ID, description: 'a public id of the key' }) id: string;
}

export class RevealResultDto {
  @ApiProperty({ example: '6123907216341290553' }) id: string;
  @ApiProperty({ example: '1001' }) underlyingId: string;
}
