import { Controller, Get, Param } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/error-response.dto';

/**
 * The OpenAPI entries of Meituan Leaf's routes. Served by LeafRoutes directly on Fastify (see
 * DirectRoutes); this class is only read by Swagger's scanner (see api-document.ts).
 */
@ApiTags('compat')
@Controller('api')
export class LeafController {
  @Get('segment/get/:key')
  @ApiOperation({ summary: "Leaf's segment route" })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'the id', schema: { type: 'string', example: '1001' } })
  @ApiErrors('INVALID_KEY', 'UNKNOWN_KEY', 'UNAUTHORIZED', 'FORBIDDEN', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  segment(@Param('key') _key: string): string {
    throw new Error('documentation only: served by LeafRoutes');
  }

  @Get('snowflake/get/:key')
  @ApiOperation({ summary: "Leaf's snowflake route (key checked, one sequence for all)" })
  @ApiProduces('text/plain')
  @ApiResponse({ status: 200, description: 'the id', schema: { type: 'string', example: '7260000000000000001' } })
  @ApiErrors('INVALID_KEY', 'UNAUTHORIZED', 'FORBIDDEN', 'UNKNOWN_STRATEGY', 'CLOCK_BACKWARDS', 'WORKER_LEASE_LOST', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  snowflake(@Param('key') _key: string): string {
    throw new Error('documentation only: served by LeafRoutes');
  }
}
