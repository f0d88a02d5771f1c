import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.dto';
import { ApiTokenAuth } from '../common/openapi';

/** Leaf answers the bare id; only errors are JSON. */
const textId = (example: string) =>
  ApiOkResponse({ description: 'the id, as text', content: { 'text/plain': { schema: { type: 'string', pattern: '^[0-9]{1,19}$', example } } } });

/**
 * The OpenAPI entries of Meituan Leaf's routes. Served by LeafRoutes directly on Fastify (see
 * DirectRoutes); this class is only read by Swagger's scanner (see api-document.ts).
 */
@ApiTags('compat')
@Controller('api')
export class LeafController {
  @Get('segment/get/:key')
  @ApiOperation({ operationId: 'leafSegmentId', summary: "Leaf's segment route" })
  @textId('1001')
  @ApiTokenAuth()
  @ApiErrors('UNAUTHORIZED', 'FORBIDDEN', 'INVALID_KEY', 'UNKNOWN_KEY', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  segment(@Param('key') _key: string): string {
    throw new Error('documentation only: served by LeafRoutes');
  }

  @Get('snowflake/get/:key')
  @ApiOperation({ operationId: 'leafSnowflakeId', summary: "Leaf's snowflake route (key checked, one sequence for all)" })
  @textId('7260000000000000001')
  @ApiTokenAuth()
  @ApiErrors('UNAUTHORIZED', 'FORBIDDEN', 'INVALID_KEY', 'UNKNOWN_STRATEGY', 'CLOCK_BACKWARDS', 'WORKER_LEASE_LOST', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  snowflake(@Param('key') _key: string): string {
    throw new Error('documentation only: served by LeafRoutes');
  }
}
