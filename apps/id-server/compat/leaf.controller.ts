import { Controller, Get, Header, Headers, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiTokens, GeneratorRegistry, IdError } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiErrors } from '../common/error-response.dto';
import { ApiTokenAuth } from '../common/openapi';

/** Leaf answers the bare id; only errors are JSON. */
const textId = (example: string) =>
  ApiOkResponse({ description: 'the id, as text', content: { 'text/plain': { schema: { type: 'string', pattern: '^[0-9]{1,19}$', example } } } });
import { KEY_PATTERN } from '../ids/ids-query';

/**
 * Meituan Leaf's routes: the id as text/plain. Errors are our JSON with a non-2xx status, never
 * Leaf's 200 with "0" or a negative number.
 */
@ApiTags('compat')
@Controller('api')
export class LeafController {
  constructor(
    private readonly registry: GeneratorRegistry,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  @Get('segment/get/:key')
  @Header('content-type', 'text/plain; charset=utf-8')
  @ApiOperation({ operationId: 'leafSegmentId', summary: "Leaf's segment route" })
  @textId('1001')
  @ApiTokenAuth()
  @ApiErrors('UNAUTHORIZED', 'FORBIDDEN', 'INVALID_KEY', 'UNKNOWN_KEY', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED')
  segment(@Param('key') key: string, @Headers('authorization') authorization?: string): string | Promise<string> {
    return this.one('segment', key, authorization);
  }

  @Get('snowflake/get/:key')
  @Header('content-type', 'text/plain; charset=utf-8')
  @ApiOperation({ operationId: 'leafSnowflakeId', summary: "Leaf's snowflake route (key checked, one sequence for all)" })
  @textId('7260000000000000001')
  @ApiTokenAuth()
  @ApiErrors('UNAUTHORIZED', 'FORBIDDEN', 'INVALID_KEY', 'UNKNOWN_STRATEGY', 'CLOCK_BACKWARDS', 'WORKER_LEASE_LOST')
  snowflake(@Param('key') key: string, @Headers('authorization') authorization?: string): string | Promise<string> {
    return this.one('snowflake', key, authorization);
  }

  private one(strategy: string, key: string, authorization: string | undefined): string | Promise<string> {
    const generator = this.registry.get(strategy);
    if (!KEY_PATTERN.test(key)) throw new IdError('INVALID_KEY', 'key: 1 to 128 characters of A-Z a-z 0-9 _ . : -');
    this.tokens.check(authorization, key);
    const ids = generator.next(key, 1);
    if (Array.isArray(ids)) {
      this.counter.add(strategy, key, 1);
      return ids[0];
    }
    return ids.then((list) => {
      this.counter.add(strategy, key, 1);
      return list[0];
    });
  }
}
