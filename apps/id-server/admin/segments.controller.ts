import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AdminGuard, APP_CONFIG, AppConfig, IdError } from '@app/core';
import { IssueHistory } from '../metrics/issue-history';
import { RATE_WINDOW_MS } from '../metrics/issue-history.provider';
import { MAX_ID, SegmentAdmin } from '@app/segment';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { checkKey, KEY_PATTERN } from '../ids/ids-query';
import { BodyChecker } from './admin-body';
import { ApiSkipBody, CreateSegmentDto, ParsedIdDto, RevealDto, RevealResultDto, SegmentKeyDto, SegmentListDto, SkipResultDto, UpdateSegmentDto } from './segments.dto';

const MAX_STORED_STEP = 2_147_483_647; // leaf_alloc.step is an int(11)
/** the largest page of GET /admin/segments */
const MAX_PAGE = 1000;

function pageQuery(q: Record<string, unknown>): { limit: number; cursor: string | null; prefix: string | null; sort: 'key' | 'rate' } {
  const bad = (field: string, problem: string) =>
    new IdError('VALIDATION_FAILED', `${field}: ${problem}`, { details: [{ field, problem }] });
  for (const name of Object.keys(q)) {
    if (!['limit', 'cursor', 'q', 'sort'].includes(name)) throw bad(name, 'unknown parameter (limit, cursor, q, sort)');
    if (typeof q[name] !== 'string') throw bad(name, 'given more than once');
  }
  const { limit, cursor, q: prefix, sort } = q as Record<string, string | undefined>;
  if (limit !== undefined && !/^[1-9][0-9]{0,5}$/.test(limit)) throw bad('limit', `1..${MAX_PAGE}`);
  if (limit !== undefined && Number(limit) > MAX_PAGE) throw bad('limit', `1..${MAX_PAGE}`);
  if (sort !== undefined && sort !== 'key' && sort !== 'rate') throw bad('sort', 'key or rate');
  if (prefix !== undefined && !/^[A-Za-z0-9_.:-]{0,128}$/.test(prefix)) throw bad('q', 'a key prefix: A-Z a-z 0-9 _ . : -');
  return { limit: Number(limit ?? MAX_PAGE), cursor: cursor ?? null, prefix: prefix || null, sort: sort ?? 'key' };
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
    private readonly history: IssueHistory,
  ) {
    this.stepMax = Math.min(config.SEGMENT_STEP_MAX, MAX_STORED_STEP);
  }

  @Get()
  @ApiOperation({
    operationId: 'listSegmentKeys',
    summary: "Keys with this instance's live buffer state: every key, or a page (limit, cursor), by key or by rate, narrowed by a prefix",
  })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `a page of at most this many keys (1..${MAX_PAGE}); without it and without the others, every key` })
  @ApiQuery({ name: 'cursor', required: false, type: String, description: 'nextCursor of the previous page' })
  @ApiQuery({ name: 'sort', required: false, enum: ['key', 'rate'], description: "key order (default), or this instance's issue rate of the last minute, busiest first (keys in use here only)" })
  @ApiQuery({ name: 'q', required: false, type: String, description: 'only keys starting with this' })
  @ApiOkResponse({ type: SegmentListDto })
  @ApiErrors('VALIDATION_FAILED')
  async list(@Query() query: Record<string, unknown>): Promise<SegmentListDto> {
    if (Object.keys(query).length === 0) return { segments: await this.admin.list(), skips: this.admin.skipStatus() };
    const page = await this.admin.page({ ...pageQuery(query), rateOf: (key) => this.history.rate('segment', key, RATE_WINDOW_MS) });
    return { ...page, skips: this.admin.skipStatus() };
  }

  @Post()
  @ApiOperation({ operationId: 'createSegmentKey', summary: 'Create a key' })
  @ApiBody({ type: CreateSegmentDto })
  @ApiCreatedResponse({ type: SegmentKeyDto })
  @ApiErrors('INVALID_KEY', 'INVALID_STEP', 'INVALID_START', 'VALIDATION_FAILED', 'KEY_EXISTS')
  create(@Body() body: unknown): Promise<SegmentKeyDto> {
    const check = new BodyChecker(body, ['key', 'startId', 'step', 'description', 'public', 'format']);
    const key = check.body.key;
    if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
      check.fail('key', 'required: 1 to 128 characters of A-Z a-z 0-9 _ . : -', 'INVALID_KEY');
    }
    const startId = check.bigint('startId', 1n, MAX_ID - 1n, 'INVALID_START') ?? 1n;
    const step = check.int('step', 1, this.stepMax, 'INVALID_STEP') ?? 1000;
    const description = check.text('description', 256) ?? null;
    const isPublic = check.bool('public') ?? false;
    check.done();
    return this.admin.create({ key: key as string, startId, step, description, public: isPublic, format: check.body.format });
  }

  @Patch(':key')
  @ApiOperation({ operationId: 'updateSegmentKey', summary: "Change a key's stored step, description or format" })
  @ApiBody({ type: UpdateSegmentDto })
  @ApiOkResponse({ type: SegmentKeyDto })
  @ApiErrors('INVALID_KEY', 'INVALID_STEP', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  update(@Param('key') key: string, @Body() body: unknown): Promise<SegmentKeyDto> {
    checkKey(key);
    const check = new BodyChecker(body, ['step', 'description', 'format']);
    const step = check.int('step', 1, this.stepMax, 'INVALID_STEP');
    const description = check.text('description', 256);
    const format = check.body.format;
    if (check.problems.length === 0 && step === undefined && description === undefined && format === undefined) {
      check.fail('(body)', 'give step, description or format');
    }
    check.done();
    return this.admin.update(key, { step, description, format });
  }

  @Get(':key/parse')
  @ApiOperation({ operationId: 'parseFormattedId', summary: 'The period and sequence of a formatted id of a key' })
  @ApiQuery({ name: 'id', required: true, type: String, example: 'INV-20261207-0000427' })
  @ApiOkResponse({ type: ParsedIdDto })
  @ApiErrors('INVALID_KEY', 'INVALID_ID', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  parse(@Param('key') key: string, @Query() query: Record<string, unknown>): Promise<ParsedIdDto> {
    checkKey(key);
    for (const name of Object.keys(query)) {
      if (name !== 'id') throw new IdError('VALIDATION_FAILED', `${name}: unknown parameter (id)`, { details: [{ field: name, problem: 'unknown parameter' }] });
    }
    const id = query.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > 128) {
      throw new IdError('INVALID_ID', 'id: one formatted id of the key, up to 128 characters');
    }
    return this.admin.parse(key, id);
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
      'the rollback guard requires (requiredSkipTarget in GET /admin/segments). A period key of a formatted key ' +
      '(`invoices~20261207`) is listed, and skipped here, while it is halted.',
  })
  @ApiSkipBody()
  @ApiOkResponse({ type: SkipResultDto })
  @ApiErrors('INVALID_KEY', 'SKIP_BACKWARDS', 'VALIDATION_FAILED', 'UNKNOWN_KEY')
  skip(@Param('key') key: string, @Body() body: unknown): Promise<SkipResultDto> {
    checkKey(key, 'key', true);
    const check = new BodyChecker(body, ['by', 'to']);
    const by = check.bigint('by', 1n, MAX_ID);
    const to = check.bigint('to', 0n, MAX_ID - 1n);
    if (check.has('by') && check.has('to')) check.fail('(body)', 'give by or to, not both');
    else if (!check.has('by') && !check.has('to')) check.fail('(body)', 'give by or to');
    check.done();
    return this.admin.skip(key, by !== undefined ? { by } : { to: to! + 1n });
  }
}
