import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllocResponseDto, ApiAllocErrors } from './alloc.dto';
import { ApiTokenAuth } from '../common/openapi';

/**
 * The OpenAPI entry of go-id-alloc's GET /alloc. Served by AllocRoutes directly on Fastify (see
 * DirectRoutes); this class is only read by Swagger's scanner (see api-document.ts).
 */
@ApiTags('compat')
@Controller()
export class AllocController {
  @Get('alloc')
  @ApiOperation({ operationId: 'allocId', summary: "go-id-alloc's /alloc: one id from the partition sequence", description: 'failure: 503 {"Errno":-1,"Msg":"<reason>","Id":0} (go-id-alloc answers 500); 409 when the sequence passed 2^53-1 (permanent)' })
  @ApiOkResponse({ type: AllocResponseDto })
  @ApiTokenAuth()
  @ApiAllocErrors('UNAUTHORIZED', 'FORBIDDEN', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  alloc(): AllocResponseDto {
    throw new Error('documentation only: served by AllocRoutes');
  }
}
