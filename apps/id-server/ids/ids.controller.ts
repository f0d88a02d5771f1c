import { Controller, Get, Param } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.dto';
import { ApiTokenAuth } from '../common/openapi';
import { ApiIssueQuery, IdsRangesResponseDto, IdsResponseDto, ISSUE_ERRORS } from './ids.dto';

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
  @ApiIssueQuery()
  @ApiExtraModels(IdsResponseDto, IdsRangesResponseDto)
  // format=ranges answers IdsRangesResponseDto, a component of its own named in the description.
  @ApiOkResponse({ type: IdsResponseDto, description: `the ids; with format=ranges: ${getSchemaPath(IdsRangesResponseDto)}` })
  @ApiTokenAuth()
  @ApiErrors(...ISSUE_ERRORS)
  next(@Param('strategy') _strategy: string): IdsResponseDto {
    throw new Error('documentation only: served by IdsRoutes');
  }
}
