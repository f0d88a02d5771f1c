import { Controller, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { checkIdempotencyKey, IdError, IdempotentIssuer, ServiceState } from '@app/core';
import { createHash } from 'node:crypto';
import { ApiErrors } from '../common/error-response.dto';
import { ApiTokenAuth } from '../common/openapi';
import { ApiIssueQuery, IdsResponseDto, ISSUE_ERRORS } from './ids.dto';
import { IdsRequest, IdsRoutes } from './ids.routes';

/** what makes two requests "the same" for an Idempotency-Key: strategy, key, count and answer format */
export function fingerprint(request: IdsRequest): string {
  return createHash('sha256').update(`${request.strategy}\n${request.key}\n${request.count}\n${request.ranges ? 'ranges' : 'ids'}`).digest('hex');
}

/**
 * POST /ids/:strategy: GET's query and answer; with an Idempotency-Key header, the same key and
 * parameters answer the same ids for IDEMPOTENCY_TTL_MS from any instance (IdempotentIssuer).
 * Not a hot path, so an ordinary Nest route (GET stays on DirectRoutes).
 */
@ApiTags('ids')
@Controller('ids')
export class IdsPostController {
  constructor(
    private readonly routes: IdsRoutes,
    private readonly issuer: IdempotentIssuer,
    private readonly state: ServiceState,
  ) {}

  @Post(':strategy')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'issueIdsIdempotent',
    summary: 'Issue ids, idempotently with an Idempotency-Key',
    description:
      "GET /ids/:strategy's query and answer. With an Idempotency-Key header, a retry with the same key and the same " +
      'strategy, key, count and format answers the same ids (Idempotent-Replayed: true) for IDEMPOTENCY_TTL_MS, from any ' +
      'instance; other parameters with the same key are 422 IDEMPOTENCY_KEY_REUSED; a retry while the first is still being ' +
      'answered waits for it, then 409 IDEMPOTENCY_IN_PROGRESS. Without the header it is GET.',
  })
  @ApiIssueQuery()
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1 to 255 visible ASCII characters, e.g. a UUID per logical request' })
  @ApiProduces('application/json')
  @ApiOkResponse({ type: IdsResponseDto, description: 'the ids (the same ids again for a retried Idempotency-Key)' })
  @ApiTokenAuth()
  @ApiErrors(...ISSUE_ERRORS, 'VALIDATION_FAILED', 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_IN_PROGRESS')
  async issue(
    @Param('strategy') strategy: string,
    @Query() query: Record<string, unknown>,
    @Headers('authorization') authorization: string | undefined,
    @Headers('idempotency-key') idempotencyKey: string | string[] | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    if (this.state.shuttingDown) throw new IdError('SHUTTING_DOWN', 'this instance is shutting down; ask another one');
    const request = this.routes.parse(strategy, query, authorization);
    reply.header('content-type', 'application/json; charset=utf-8');
    if (idempotencyKey === undefined) return this.routes.answer(request);
    const key = checkIdempotencyKey(idempotencyKey);
    const answer = await this.issuer.issue(key, fingerprint(request), () => this.routes.answer(request));
    if (answer.replayed) reply.header('idempotent-replayed', 'true');
    return answer.body;
  }
}
