import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '@app/core';
import { ApiErrors } from '../common/error-response.dto';
import { ApiAdminAuth } from '../common/openapi';
import { IssueHistory } from '../metrics/issue-history';
import { ErrorHistory, RATE_WINDOW_MS } from '../metrics/issue-history.provider';
import { LatencyHistory } from '../metrics/latency-history';

export class RateSeriesDto {
  @ApiProperty({ example: 'segment' }) strategy: string;
  @ApiProperty({ example: 'orders', description: 'the segment key; "" for strategies with one sequence' }) key: string;
  @ApiProperty({ type: [Number], example: [120.4, 98.2, 133], description: 'ids per second in each interval, oldest first' })
  perSecond: number[];
  @ApiProperty({ example: 117.2, description: 'mean ids per second over the last minute' }) lastMinute: number;
}

export class ErrorRateDto {
  @ApiProperty({ example: 'SEGMENT_UNAVAILABLE', description: 'the stable error code' }) code: string;
  @ApiProperty({ type: [Number], example: [0, 2.4, 0], description: 'error answers per second in each interval, oldest first' })
  perSecond: number[];
  @ApiProperty({ example: 0.8, description: 'mean error answers per second over the last minute' }) lastMinute: number;
}

export class LatencyPercentilesDto {
  @ApiProperty({ type: [Number], nullable: true, example: [0.12, 0.13], description: 'p50 in ms per interval, oldest first; null: no request in it' })
  p50: (number | null)[];
  @ApiProperty({ type: [Number], nullable: true, example: [0.24, 0.25], description: 'p99 in ms per interval' }) p99: (number | null)[];
  @ApiProperty({ type: [Number], nullable: true, example: [2.5, 0.5], description: 'p99.9 in ms per interval' }) p999: (number | null)[];
}

export class IssueRatesDto {
  @ApiProperty({ type: 'integer', example: 5, description: 'seconds per sample' }) intervalSeconds: number;
  @ApiProperty({ type: 'integer', example: 600, description: 'seconds of history kept' }) windowSeconds: number;
  @ApiProperty({ type: [RateSeriesDto] }) series: RateSeriesDto[];
  @ApiProperty({ type: [ErrorRateDto], description: 'error answers per stable code (every route), for the codes seen' }) errors: ErrorRateDto[];
  @ApiProperty({ type: LatencyPercentilesDto, description: "the id routes' latency percentiles per interval (read from the latency histogram's buckets)" })
  latency: LatencyPercentilesDto;
}

/** The issue rates this instance keeps (bounded), for the dashboard's charts. */
@ApiTags('admin')
@ApiAdminAuth()
@UseGuards(AdminGuard)
@Controller('admin/rates')
export class RatesController {
  constructor(
    private readonly history: IssueHistory,
    private readonly errors: ErrorHistory,
    private readonly latency: LatencyHistory,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'getIssueRates',
    summary: "Ids per second per strategy and key, errors per second per code and the id routes' latency percentiles over the last 10 minutes (this instance)",
  })
  @ApiOkResponse({ type: IssueRatesDto })
  @ApiErrors('UNAUTHORIZED', 'ADMIN_DISABLED')
  rates(): IssueRatesDto {
    const { intervalMs, samples } = this.history.options;
    return {
      intervalSeconds: intervalMs / 1000,
      windowSeconds: (intervalMs * samples) / 1000,
      series: this.history.all().map((s) => ({ ...s, lastMinute: lastMinute(this.history, s.strategy, s.key) })),
      errors: this.errors.all().map((s) => ({ code: s.key, perSecond: s.perSecond, lastMinute: lastMinute(this.errors, s.strategy, s.key) })),
      latency: this.latency.all(),
    };
  }
}

const lastMinute = (history: IssueHistory, strategy: string, key: string) => Math.round(history.rate(strategy, key, RATE_WINDOW_MS) * 100) / 100;
