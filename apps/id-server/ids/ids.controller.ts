import { Controller, Get, Param } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.dto';
import { ApiTokenAuth } from '../common/openapi';
import { COUNT_QUERY, FORMAT_QUERY, IdsRangesResponseDto, IdsResponseDto, KEY_QUERY, STRATEGY_PARAM } from './ids.dto';

/**
 * The OpenAPI entry of GET /ids/:strategy. Requests are served by IdsRoutes directly on Fastify
 * (see DirectRoutes for why); this class is never routed by Nest, only read by Swagger's scanner
 * (see api-document.ts), so its decorators and DTOs are the documentation.
 */
@ApiTags('ids')
@Controller('ids')
export class IdsController {
  @Get(':strategy')
  @ApiOperation({
    operationId: 'issueIds',
    summary: 'Issue ids',
    description:
      'count unique ids from a strategy; a batch is all or nothing. segment: key is the business tag; ' +
      'other strategies check and echo key, one sequence serves all keys. Any other query parameter is ' +
      '400 UNKNOWN_PARAMETER; HEAD is 405 (it would spend ids).',
  })
  @ApiParam(STRATEGY_PARAM)
  @ApiQuery(KEY_QUERY)
  @ApiQuery(COUNT_QUERY)
  @ApiQuery(FORMAT_QUERY)
  @ApiExtraModels(IdsResponseDto, IdsRangesResponseDto)
  // format=ranges answers IdsRangesResponseDto, a component of its own named in the description.
  @ApiOkResponse({ type: IdsResponseDto, description: `the ids; with format=ranges: ${getSchemaPath(IdsRangesResponseDto)}` })
  @ApiTokenAuth()
  @ApiErrors(
    'UNAUTHORIZED',
    'FORBIDDEN',
    'INVALID_KEY',
    'INVALID_COUNT',
    'INVALID_FORMAT',
    'UNKNOWN_PARAMETER',
    'UNKNOWN_STRATEGY',
    'UNKNOWN_KEY',
    'ID_SPACE_EXHAUSTED',
    'SEGMENT_UNAVAILABLE',
    'DATABASE_UNAVAILABLE',
    'CLOCK_BACKWARDS',
    'WORKER_LEASE_LOST',
    'SHUTTING_DOWN',
  )
  next(@Param('strategy') _strategy: string): IdsResponseDto {
    throw new Error('documentation only: served by IdsRoutes');
  }
}
