import { Controller, Get, Header, Headers, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiTokens, IdError } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AllocResponseDto, ApiAllocErrors, ApiTagHealthErrors, TagAllocResponseDto, TagHealthResponseDto } from './alloc.dto';
import { ApiTokenAuth } from '../common/openapi';
import { PartitionGenerator, SegmentGenerator } from '@app/segment';
import { KEY_PATTERN } from '../ids/ids-query';

/** `biz_tag` as go-id-alloc's current version takes it; unknown parameters are ignored, as it does. */
function bizTag(query: Record<string, unknown>): string {
  const tag = query.biz_tag;
  if (tag === undefined) throw new IdError('INVALID_KEY', 'biz_tag: required (?biz_tag=KEY)');
  if (typeof tag !== 'string') throw new IdError('INVALID_KEY', 'biz_tag: give it once');
  if (!KEY_PATTERN.test(tag)) throw new IdError('INVALID_KEY', 'biz_tag: 1 to 128 characters of A-Z a-z 0-9 _ . : -');
  return tag;
}

const hasBizTag = (request: FastifyRequest) => (request.query as Record<string, unknown>).biz_tag !== undefined;

/**
 * go-id-alloc's routes in its own shapes: the first version's GET /alloc from the `partition`
 * sequence; the current version's GET /alloc?biz_tag=X and GET /health?biz_tag=X from the
 * `segment` key X. Failures keep those shapes (IdExceptionFilter) with our statuses.
 */
@ApiTags('compat')
@Controller()
export class AllocController {
  constructor(
    private readonly partition: PartitionGenerator,
    private readonly segment: SegmentGenerator,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  @Get('alloc')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({
    operationId: 'allocId',
    summary: "go-id-alloc's /alloc (both versions)",
    description:
      'without biz_tag: the first version, {"Errno":0,"Msg":"","Id":N} from `partition`; failure {"Errno":-1,"Msg":"<code>: <reason>","Id":0} (go-id-alloc answers 500). ' +
      'With biz_tag: the current version, {"errno":0,"msg":"success","id":N} from segment key biz_tag (exact int64 digits); failure ' +
      '{"errno":-1,"msg":"<code>: <reason>","id":0} with 400 INVALID_KEY (no, empty or bad biz_tag; a public key: use /ids/segment), ' +
      '404 UNKNOWN_KEY, 503 SEGMENT_UNAVAILABLE/DATABASE_UNAVAILABLE with Retry-After. Unknown parameters are ignored.',
  })
  @ApiQuery({ name: 'biz_tag', required: false, type: String, description: 'a segment key: the current version of go-id-alloc' })
  // The first version's answer is the documented one (generated clients switch on Errno); the
  // current version's TagAllocResponseDto is listed beside it for clients of ?biz_tag=.
  @ApiExtraModels(TagAllocResponseDto)
  @ApiOkResponse({ type: AllocResponseDto, description: `with biz_tag: ${'{"errno":0,"msg":"success","id":N}'} (schema TagAllocResponseDto)` })
  @ApiTokenAuth()
  @ApiAllocErrors('UNAUTHORIZED', 'FORBIDDEN', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED')
  alloc(@Req() request: FastifyRequest, @Headers('authorization') authorization?: string): AllocResponseDto | string | Promise<AllocResponseDto | string> {
    if (hasBizTag(request)) return this.tagAlloc(bizTag(request.query as Record<string, unknown>), authorization);
    this.tokens.check(authorization, 'default');
    const id = this.partition.nextNumber();
    if (typeof id === 'number') {
      this.counter.add('partition', '', 1);
      return { Errno: 0, Msg: '', Id: id };
    }
    return id.then((n) => {
      this.counter.add('partition', '', 1);
      return { Errno: 0, Msg: '', Id: n };
    });
  }

  @Get('health')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({
    operationId: 'goIdAllocHealth',
    summary: "go-id-alloc's /health?biz_tag=X",
    description:
      'ids buffered for the key in this process; the first call loads the key and waits for its first segment (up to SEGMENT_WAIT_MS), ' +
      'so a balancer can let traffic in. Failure {"errno":-1,"msg":"<code>: <reason>","left":0} with 400/404/503. ' +
      'This service’s own checks are /health/live and /health/ready.',
  })
  @ApiQuery({ name: 'biz_tag', required: true, type: String })
  @ApiOkResponse({ type: TagHealthResponseDto })
  @ApiTagHealthErrors('INVALID_KEY', 'UNKNOWN_KEY', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE')
  tagHealth(@Req() request: FastifyRequest): Promise<string> | string {
    const key = bizTag(request.query as Record<string, unknown>);
    const answer = (left: number) => `{"errno":0,"msg":"success","left":${left}}`;
    const inUse = this.segment.use(key);
    const stock = (k: { buffer: { stocked(): number | Promise<number> }; public: boolean }) => {
      const left = k.buffer.stocked();
      // a public key's count is not for an unauthenticated route: only whether it can issue
      const shown = (n: number) => answer(k.public ? (n > 0 ? 1 : 0) : n);
      return typeof left === 'number' ? shown(left) : left.then(shown);
    };
    return inUse instanceof Promise ? inUse.then(stock) : stock(inUse);
  }

  private tagAlloc(key: string, authorization: string | undefined): string | Promise<string> {
    this.tokens.check(authorization, key);
    const issue = (k: { public: boolean }): string | Promise<string> => {
      if (k.public) {
        throw new IdError('INVALID_KEY', `key "${key}" is public: its ids come from GET /ids/segment?key=${key}, not /alloc`);
      }
      const ids = this.segment.next(key, 1);
      const answer = (list: string[]) => {
        this.counter.add('segment', key, 1);
        return `{"errno":0,"msg":"success","id":${list[0]}}`;
      };
      return Array.isArray(ids) ? answer(ids) : ids.then(answer);
    };
    const inUse = this.segment.use(key);
    return inUse instanceof Promise ? inUse.then(issue) : issue(inUse);
  }
}
