import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard, APP_CONFIG, AppConfig, IdError } from '@app/core';
import { MAX_ID, SegmentAdmin } from '@app/segment';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { KEY_PATTERN } from '../ids/ids-query';
import { BodyChecker } from './admin-body';
import { ApiSkipBody, CreateSegmentDto, RevealDto, RevealResultDto, SegmentKeyDto, SegmentListDto, SkipResultDto, UpdateSegmentDto } from './segments.dto';

const MAX_STORED_STEP = 2_147_483_647; // leaf_alloc.step is an int(11)

function checkKey(key: string): string {
  if (!KEY_PATTERN.test(key)) throw new IdError('INVALID_KEY', 'key: 1 to 128 characters of A-Z a-z 0-9 _ . : -');
  return key;
}

/** Admin routes for segment keys; the HTTP shape only, the operations live in SegmentAdmin. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED', 'DATABASE_UNAVAILABLE')
@Controller('admin/segments')
export class SegmentsController {
  private readonly stepMax: number;

  constructor(
    private readonly admin: SegmentAdmin,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.stepMax = Math.min(config.SEGMENT_STEP_MAX, MAX_STORED_STEP);
  }

  @Get()
  @ApiOperation({ operationId: 'listSegmentKeys', summary: "Every key with this instance's live buffer state" })
  @ApiOkResponse({ type: SegmentListDto })
  async list(): Promise<SegmentListDto> {
    return { segments: await this.admin.list(), skips: this.admin.skipStatus() };
  }

  @Post()
  @ApiOperation({ operationId: 'createSegmentKey', summary: 'Create a key' })
  @ApiBody({ type: CreateSegmentDto })
  @ApiCreatedResponse({ type: SegmentKeyDto })
  @ApiErrors('INVALID_KEY', 'INVALID_STEP', 'INVALID_START', 'VALIDATION_FAILED', 'KEY_EXISTS')
  create(@Body() body: unknown): Promise<SegmentKeyDto> {
    const check = new BodyChecker(body, ['key', 'startId', 'step', 'description', 'public']);
    const key = check.body.key;
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      check.fail('key', 'required: 1 to 128 characters of A-Z a-z 0-9 _ . : -', 'INVALID_KEY');
    }
    const startId = check.bigint('startId', 1n, MAX_ID - 1n, 'INVALID_START') ?? 1n;
    const step = check.int('step', 1, this.stepMax, 'INVALID_STEP') ?? 1000;
    const description = check.text('description', 256) ?? null;
    const isPublic = check.bool('public') ?? false;
    check.done();
    return this.admin.create({ key: key as string, startId, step, description, public: isPublic });
  }

  @Patch(':key')
  @ApiOperation({ operationId: 'updateSegmentKey', summary: "Change a key's stored step or description" })
  @ApiBody({ type: UpdateSegmentDto })
  @ApiOkResponse({ type: SegmentKeyDto })
  @ApiErrors('INVALID_KEY', 'INVALID_STEP', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  update(@Param('key') key: string, @Body() body: unknown): Promise<SegmentKeyDto> {
    checkKey(key);
    const check = new BodyChecker(body, ['step', 'description']);
    const step = check.int('step', 1, this.stepMax, 'INVALID_STEP');
    const description = check.text('description', 256);
    if (check.problems.length === 0 && step === undefined && description === undefined) {
      check.fail('(body)', 'give step or description');
    }
    check.done();
    return this.admin.update(key, { step, description });
  }

  @Post(':key/reveal')
  @HttpCode(200)
  @ApiOperation({ operationId: 'revealPublicId', summary: 'The underlying id behind a public id of a key' })
  @ApiBody({ type: RevealDto })
  @ApiOkResponse({ type: RevealResultDto })
  @ApiErrors('INVALID_KEY', 'INVALID_ID', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  reveal(@Param('key') key: string, @Body() body: unknown): Promise<RevealResultDto> {
    checkKey(key);
    const check = new BodyChecker(body, ['id']);
    const id = check.bigint('id', 1n, MAX_ID, 'INVALID_ID');
    if (!check.has('id')) check.fail('id', 'required', 'INVALID_ID');
    check.done();
    return this.admin.reveal(key, id!.toString());
  }

  @Post(':key/skip')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'skipSegmentKey',
    summary: 'Move a key ahead (never back; cannot be undone)',
    description:
      '{"by": N} moves max_id ahead by N; {"to": N} makes every id issued afterwards greater than N. Every instance drops ' +
      'what it holds of the key within appliedByAllWithinMs. Refused (SKIP_BACKWARDS) below what a live instance halted by ' +
      'the rollback guard requires (requiredSkipTarget in GET /admin/segments).',
  })
  @ApiSkipBody()
  @ApiOkResponse({ type: SkipResultDto })
  @ApiErrors('INVALID_KEY', 'SKIP_BACKWARDS', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  skip(@Param('key') key: string, @Body() body: unknown): Promise<SkipResultDto> {
    checkKey(key);
    const check = new BodyChecker(body, ['by', 'to']);
    const by = check.bigint('by', 1n, MAX_ID);
    const to = check.bigint('to', 0n, MAX_ID - 1n);
    if (check.has('by') && check.has('to')) check.fail('(body)', 'give by or to, not both');
    else if (!check.has('by') && !check.has('to')) check.fail('(body)', 'give by or to');
    check.done();
    return this.admin.skip(key, by !== undefined ? { by } : { to: to! + 1n });
  }
}
