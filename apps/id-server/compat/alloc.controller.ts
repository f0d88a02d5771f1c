import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';

class AllocResponseDto {
  @ApiProperty({ example: 0 }) Errno: number;
  @ApiProperty({ example: '' }) Msg: string;
  @ApiProperty({ example: 130000001, description: 'a JSON number, at most 2^53-1' }) Id: number;
}

/**
 * The OpenAPI entry of go-id-alloc's GET /alloc. Served by AllocRoutes directly on Fastify (see
 * DirectRoutes); this class is only read by Swagger's scanner (see api-document.ts).
 */
@ApiTags('compat')
@Controller()
export class AllocController {
  @Get('alloc')
  @ApiOperation({ summary: "go-id-alloc's /alloc", description: 'failure: 503 {"Errno":-1,"Msg":"<reason>","Id":0} (go-id-alloc answers 500)' })
  @ApiOkResponse({ type: AllocResponseDto })
  @ApiResponse({ status: 503, type: AllocResponseDto, description: 'Errno -1 with the reason, Retry-After' })
  @ApiResponse({ status: 409, type: AllocResponseDto, description: 'Errno -1: ID_SPACE_EXHAUSTED, the sequence passed 2^53-1 (permanent)' })
  alloc(): AllocResponseDto {
    throw new Error('documentation only: served by AllocRoutes');
  }
}
