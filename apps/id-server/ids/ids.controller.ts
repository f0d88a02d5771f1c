import { Controller, Get, Header, Inject, Param, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, ApiTokens, AppConfig, GeneratorRegistry } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiErrors } from '../common/error-response.dto';
import { parseIdsQuery } from './ids-query';
import { COUNT_QUERY, IdsResponseDto, KEY_QUERY, STRATEGY_PARAM } from './ids.dto';
import { ApiTokenAuth } from '../common/openapi';

/**
 * The answer pre-serialised: strategy is a registered name, key matched KEY_PATTERN and ids are
 * digits or uuid hex, so nothing needs escaping, and JSON.stringify's generic walk is skipped.
 */
function answer(strategy: string, key: string, ids: string[]): string {
  return `{"strategy":"${strategy}","key":"${key}","ids":["${ids.join('","')}"]}`;
}

/** The one place an id request becomes an answer: look the strategy up, check, generate. */
@ApiTags('ids')
@Controller('ids')
export class IdsController {
  private readonly maxCount: number;

  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.maxCount = config.MAX_COUNT;
  }

  @Get(':strategy')
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({
    operationId: 'issueIds',
    summary: 'Issue ids',
    description:
      'count unique ids from a strategy; a batch is all or nothing. segment: key is the business tag; ' +
      'other strategies check and echo key, one sequence serves all keys.',
  })
  @ApiParam(STRATEGY_PARAM)
  @ApiQuery(KEY_QUERY)
  @ApiQuery(COUNT_QUERY)
  @ApiOkResponse({ type: IdsResponseDto })
  @ApiTokenAuth()
  @ApiErrors(
    'UNAUTHORIZED',
    'FORBIDDEN',
    'INVALID_KEY',
    'INVALID_COUNT',
    'UNKNOWN_STRATEGY',
    'UNKNOWN_KEY',
    'SEGMENT_UNAVAILABLE',
    'DATABASE_UNAVAILABLE',
    'CLOCK_BACKWARDS',
    'WORKER_LEASE_LOST',
    'ID_SPACE_EXHAUSTED',
  )
  next(
    @Param('strategy') strategy: string,
    @Req() request: FastifyRequest,
  ): string | Promise<string> {
    const generator = this.registry.get(strategy);
    const { key, count } = parseIdsQuery(request.query as Record<string, unknown>, this.maxCount);
    this.tokens.check(request.headers.authorization, key);
    const ids = generator.next(key, count);
    if (Array.isArray(ids)) {
      this.counter.add(strategy, key, count);
      return answer(strategy, key, ids);
    }
    return ids.then((list) => {
      this.counter.add(strategy, key, count);
      return answer(strategy, key, list);
    });
  }
}
