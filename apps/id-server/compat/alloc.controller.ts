import { Controller, Get, Headers } from '@nestjs/common';
import { ApiTokens } from '@app/core';
import { IssueCounter } from '../metrics/issue-counter';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { PartitionGenerator } from '@app/segment';

class AllocResponseDto {
  @ApiProperty({ example: 0 }) Errno: number;
  @ApiProperty({ example: '' }) Msg: string;
  @ApiProperty({ example: 130000001, description: 'a JSON number, at most 2^53-1' }) Id: number;
}

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
  @ApiOperation({ summary: "go-id-alloc's /alloc", description: 'failure: 503 {"Errno":-1,"Msg":"<reason>","Id":0} (go-id-alloc answers 500)' })
  @ApiOkResponse({ type: AllocResponseDto })
  @ApiResponse({ status: 503, type: AllocResponseDto, description: 'Errno -1 with the reason, Retry-After' })
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
