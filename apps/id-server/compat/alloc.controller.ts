import { Controller, Get, Headers } from '@nestjs/common';
import { ApiTokens } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllocResponseDto, ApiAllocErrors } from './alloc.dto';
import { ApiTokenAuth } from '../common/openapi';
import { PartitionGenerator } from '@app/segment';

/** go-id-alloc's GET /alloc, from the `partition` sequence, in its own shape. */
@ApiTags('compat')
@Controller()
export class AllocController {
  constructor(
    private readonly partition: PartitionGenerator,
    private readonly tokens: ApiTokens,
    private readonly counter: IssueCounter,
  ) {}

  @Get('alloc')
  @ApiOperation({ operationId: 'allocId', summary: "go-id-alloc's /alloc: one id from the partition sequence", description: 'failure: 503 {"Errno":-1,"Msg":"<reason>","Id":0} (go-id-alloc answers 500)' })
  @ApiOkResponse({ type: AllocResponseDto })
  @ApiTokenAuth()
  @ApiAllocErrors('UNAUTHORIZED', 'FORBIDDEN', 'SEGMENT_UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'ID_SPACE_EXHAUSTED')
  alloc(@Headers('authorization') authorization?: string): AllocResponseDto | Promise<AllocResponseDto> {
    this.tokens.check(authorization, 'default');
    const id = this.partition.nextNumber();
    if (typeof id === 'number') {
      this.counter.add('partition', '', 1);
      return { Errno: 0, Msg: '', Id: id };
    }
    return id.then((n) => {
      this.counter.add('partition', '', 1);
      return { Errno: 0, Msg: '', Id: n };
    });
  }
}
