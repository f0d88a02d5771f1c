import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '@app/core';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { IssueHistory } from '../metrics/issue-history';
import { RATE_WINDOW_MS } from '../metrics/issue-history.provider';

export class RateSeriesDto {
  @ApiProperty({ example: 'segment' }) strategy: string;
  @ApiProperty({ example: 'orders', description: 'the segment key; "" for strategies with one sequence' }) key: string;
  @ApiProperty({ type: [Number], example: [120.4, 98.2, 133], description: 'ids per second in each interval, oldest first' })
  perSecond: number[];
  @ApiProperty({ example: 117.2, description: 'mean ids per second over the last minute' }) lastMinute: number;
}

export class IssueRatesDto {
  @ApiProperty({ type: 'integer', example: 5, description: 'seconds per sample' }) intervalSeconds: number;
  @ApiProperty({ type: 'integer', example: 600, description: 'seconds of history kept' }) windowSeconds: number;
  @ApiProperty({ type: [RateSeriesDto] }) series: RateSeriesDto[];
}

/** The issue rates this instance keeps (bounded), for the dashboard's charts. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin/rates')
export class RatesController {
  constructor(private readonly history: IssueHistory) {}

  @Get()
  @ApiOperation({ operationId: 'getIssueRates', summary: 'Ids per second per strategy and key over the last 10 minutes (this instance)' })
  @ApiOkResponse({ type: IssueRatesDto })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED')
  rates(): IssueRatesDto {
    const { intervalMs, samples } = this.history.options;
    return {
      intervalSeconds: intervalMs / 1000,
      windowSeconds: (intervalMs * samples) / 1000,
      series: this.history.all().map((s) => ({ ...s, lastMinute: Math.round(this.history.rate(s.strategy, s.key, RATE_WINDOW_MS) * 100) / 100 })),
    };
  }
}
