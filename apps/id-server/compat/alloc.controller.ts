import { Controller, Get } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AllocResponseDto, ApiAllocErrors, ApiTagHealthErrors, TagAllocResponseDto, TagHealthResponseDto } from './alloc.dto';
import { ApiTokenAuth } from '../common/openapi';

/**
 * The OpenAPI entries of go-id-alloc's GET /alloc and GET /health?biz_tag=X. Served by
 * AllocRoutes directly on Fastify (see DirectRoutes); this class is only read by Swagger's scanner
 * (see api-document.ts).
 */
@ApiTags('compat')
@Controller()
export class AllocController {
  @Get('alloc')
  @ApiOperation({
    operationId: 'allocId',
    summary: "go-id-alloc's /alloc (both versions)",
    description:
      'without biz_tag: the first version, {"Errno":0,"Msg":"","Id":N} from `partition`; failure {"Errno":-1,"Msg":"<code>: <reason>","Id":0} ' +
      '(go-id-alloc answers 500): 503 with Retry-After where a retry helps, 409 when the sequence passed 2^53-1 (permanent). ' +
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
  @ApiAllocErrors('UNAUTHORIZED', 'FORBIDDEN', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED', 'SHUTTING_DOWN')
  alloc(): AllocResponseDto {
    throw new Error('documentation only: served by AllocRoutes');
  }

  @Get('health')
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
  tagHealth(): TagHealthResponseDto {
    throw new Error('documentation only: served by AllocRoutes');
  }
}
