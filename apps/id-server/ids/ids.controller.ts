import { Controller, Get, Inject, Param, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, ApiTokens, AppConfig, GeneratorRegistry } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiErrors } from '../common/error-response.dto';
import { parseIdsQuery } from './ids-query';
import { IdsResponseDto } from './ids.dto';

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
  @ApiOperation({
    summary: 'Issue ids',
    description:
      'count unique ids from a strategy; a batch is all or nothing. segment: key is the business tag; ' +
      'other strategies check and echo key, one sequence serves all keys.',
  })
  @ApiParam({ name: 'strategy', description: 'segment, partition, ticket, snowflake, uuid or uuidv7', example: 'uuid' })
  @ApiQuery({ name: 'key', required: false, description: '^[A-Za-z0-9_.:-]{1,128}$, default "default"', example: 'default' })
  @ApiQuery({ name: 'count', required: false, description: '1..MAX_COUNT (10000), default 1', example: '1' })
  @ApiOkResponse({ type: IdsResponseDto })
  @ApiBearerAuth()
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
  ): IdsResponseDto | Promise<IdsResponseDto> {
    const generator = this.registry.get(strategy);
    const { key, count } = parseIdsQuery(request.query as Record<string, unknown>, this.maxCount);
    this.tokens.check(request.headers.authorization, key);
    const ids = generator.next(key, count);
    if (Array.isArray(ids)) {
      this.counter.add(strategy, key, count);
      return { strategy, key, ids };
    }
    return ids.then((list) => {
      this.counter.add(strategy, key, count);
      return { strategy, key, ids: list };
    });
  }
}
