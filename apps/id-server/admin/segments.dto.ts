import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import type { ApiPropertyOptions } from '@nestjs/swagger';

/** An id in a request body: exact as a decimal string, or a JSON number up to 2^53-1. */
export const ID_INPUT = {
  oneOf: [
    { type: 'string', pattern: '^(0|[1-9][0-9]{0,18})$' },
    { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  ],
  example: '1001',
  description: 'exact decimal string; JSON numbers accepted up to 2^53-1',
} as const satisfies ApiPropertyOptions;

/** An id in an answer: always a decimal string (64-bit values do not fit a JSON number). */
const ID_OUTPUT = { type: 'string', pattern: '^[0-9]{1,19}$' } as const;

/** A business-number format (docs/business-numbers.md). */
export class FormatDto {
  @ApiProperty({
    example: 'INV-{yyyy}{MM}{dd}-{seq:6}',
    maxLength: 64,
    description:
      'literal text (A-Z a-z 0-9 . _ : / -) and placeholders {yyyy} {yy} {MM} {dd} {seq:N} (N 1..18, zero-padded, never wider); ' +
      'exactly one {seq:N}; the date parts are exactly the period of the reset',
  })
  pattern: string;
  @ApiPropertyOptional({ enum: ['none', 'day', 'month', 'year'], default: 'none', description: 'the sequence starts again at 1 each period' })
  reset?: 'none' | 'day' | 'month' | 'year';
  @ApiPropertyOptional({ example: 'Asia/Shanghai', default: 'UTC', description: 'IANA time zone the period is computed in' })
  timeZone?: string;
  @ApiPropertyOptional({ enum: ['luhn', 'mod97'], nullable: true, default: null, description: 'appended over the digits of the number (luhn: 1 digit; mod97: ISO 7064 MOD 97-10, 2 digits)' })
  checkDigit?: 'luhn' | 'mod97' | null;
}

export class ParsedIdDto {
  @ApiProperty({ example: 'INV-20261207-0000427' }) id: string;
  @ApiProperty({ type: String, nullable: true, example: '2026-12-07', description: 'the period (2026-12-07, 2026-12 or 2026); null with reset none' })
  period: string | null;
  @ApiProperty({ ...{ type: 'string', pattern: '^[1-9][0-9]{0,17}$' }, example: '42', description: 'the sequence within the period' }) seq: string;
}

export class SegmentKeyDto {
  @ApiProperty({ example: 'orders' }) key: string;
  @ApiProperty({ ...ID_OUTPUT, example: '1001', description: 'the next segment starts here' }) maxId: string;
  @ApiProperty({ type: 'integer', example: 1000, description: 'stored step (the floor of the dynamic step)' }) step: number;
  @ApiProperty({ type: String, nullable: true, example: 'order numbers' }) description: string | null;
  @ApiProperty({ format: 'date-time', example: '2026-11-21T17:00:00.000Z' }) updatedAt: string;
  @ApiProperty({ example: false, description: 'unguessable ids (FF1 of the underlying id)' }) public: boolean;
  @ApiProperty({ ...ID_OUTPUT, example: '1001', description: 'the highest max_id the key was seen to reach; a key created again must start above it' })
  highWater: string;
  @ApiProperty({ type: FormatDto, nullable: true, description: 'business-number format: the key issues strings in this pattern; null for plain ids' })
  format: FormatDto | null;
}

export class SkipResultDto extends SegmentKeyDto {
  @ApiProperty({
    type: 'integer',
    example: 3000,
    description: 'after this many ms no instance that can read the database issues an id the skip left behind (poll period + statement timeout)',
  })
  appliedByAllWithinMs: number;
}

export class SkipStatusDto {
  @ApiProperty({ enum: ['up', 'down'], enumName: 'PartStatus', description: 'down: this instance has not read the table for longer than appliedByAllWithinMs' })
  status: 'up' | 'down';
  @ApiProperty({ type: 'integer', example: 400 }) lastOkAgoMs: number;
  @ApiPropertyOptional({ example: 'skip status unknown: ...' }) message?: string;
}

export class SegmentRangeDto {
  @ApiProperty({ ...ID_OUTPUT, example: '1001', description: 'first id of the range' }) start: string;
  @ApiProperty({ ...ID_OUTPUT, example: '2001', description: 'one past the last id of the range' }) end: string;
  @ApiProperty({ ...ID_OUTPUT, example: '1500', description: 'next id this buffer issues' }) next: string;
}

export class SegmentBufferDto {
  @ApiProperty({ type: SegmentRangeDto, nullable: true }) current: SegmentRangeDto | null;
  @ApiProperty({ type: SegmentRangeDto, nullable: true }) nextSegment: SegmentRangeDto | null;
  @ApiProperty({ type: 'integer', example: 2000, description: 'dynamic step in use' }) stepInUse: number;
  @ApiProperty({ type: Number, nullable: true, example: 3, description: 'ms the last fetch took' }) lastFetchMs: number | null;
  @ApiProperty({ type: 'integer', example: 1500, description: 'ids buffered in this instance' }) idsLeft: number;
  @ApiProperty({ description: 'false while the key cannot issue here (halted or failing)' }) ready: boolean;
  @ApiProperty({ type: String, nullable: true, description: 'why not ready (rollback, fetch failing)' }) reason: string | null;
}

export class SegmentListingDto extends SegmentKeyDto {
  @ApiProperty({ type: SegmentBufferDto, nullable: true, description: "this instance's buffer; null when not in use here" })
  buffer: SegmentBufferDto | null;
  @ApiProperty({
    ...ID_OUTPUT,
    nullable: true,
    example: '25001',
    description: 'for a key halted by the rollback guard: the smallest {"to": N} every live instance accepts',
  })
  requiredSkipTarget: string | null;
}

export class SegmentListDto {
  @ApiProperty({ type: [SegmentListingDto] }) segments: SegmentListingDto[];
  @ApiProperty({ type: SkipStatusDto, description: "whether this instance's poll sees skips in time" }) skips: SkipStatusDto;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'a paged request: the cursor of the next page, null on the last' }) nextCursor?: string | null;
}

export class CreateSegmentDto {
  @ApiProperty({ example: 'orders', pattern: '^[A-Za-z0-9_.:-]{1,128}$' }) key: string;
  @ApiPropertyOptional({ ...ID_INPUT, description: 'the first id issued (default 1)' }) startId?: string | number;
  @ApiPropertyOptional({ type: 'integer', minimum: 1, example: 1000, description: '1..SEGMENT_STEP_MAX (default 1000)' }) step?: number;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'order numbers', maxLength: 256 }) description?: string | null;
  @ApiPropertyOptional({ example: false, description: 'unguessable ids (needs ID_SECRET); at creation only' }) public?: boolean;
  @ApiPropertyOptional({ type: FormatDto, nullable: true, description: 'business-number format (not with public)' }) format?: FormatDto | null;
}

export class UpdateSegmentDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, example: 2000 }) step?: number;
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 256, example: 'order numbers' }) description?: string | null;
  @ApiPropertyOptional({ type: FormatDto, nullable: true, description: 'a new business-number format; null removes it' }) format?: FormatDto | null;
}

/** `{"by": N}`: max_id moves ahead by N. */
export class SkipByDto {
  @ApiProperty({ ...ID_INPUT, example: '100000000', description: 'move max_id ahead by this many ids' }) by: string | number;
}

/** `{"to": N}`: every id issued afterwards is greater than N. */
export class SkipToDto {
  @ApiProperty({ ...ID_INPUT, example: '5000000', description: 'ids issued afterwards are all above this one' }) to: string | number;
}

export type SkipSegmentDto = SkipByDto | SkipToDto;

/** The skip body is one of the two shapes, never both (the server answers 400 to both). */
export const ApiSkipBody = () =>
  applyDecorators(
    ApiExtraModels(SkipByDto, SkipToDto),
    ApiBody({
      required: true,
      schema: { oneOf: [{ $ref: getSchemaPath(SkipByDto) }, { $ref: getSchemaPath(SkipToDto) }] },
      examples: {
        by: { summary: 'move ahead by N ids', value: { by: '100000000' } },
        to: { summary: 'issue only above id N', value: { to: '5000000' } },
      },
    }),
  );

export class RevealDto {
  @ApiProperty({ ...ID_INPUT, example: '6123907216341290553', description: 'a public id of the key' }) id: string | number;
}

export class RevealResultDto {
  @ApiProperty({ ...ID_OUTPUT, example: '6123907216341290553' }) id: string;
  @ApiProperty({ ...ID_OUTPUT, example: '1001' }) underlyingId: string;
}
