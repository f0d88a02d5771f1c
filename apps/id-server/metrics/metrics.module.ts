import { Global, Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { IssueCounter } from './issue-counter';
import { ErrorHistory, HISTORY_PROVIDERS } from './issue-history.provider';
import { LatencyHistory } from './latency-history';
import { IssueHistory } from './issue-history';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { RequestStats } from './request-stats';

@Global()
@Module({
  imports: [SegmentModule, PartitionModule],
  providers: [IssueCounter, RequestStats, ...HISTORY_PROVIDERS, MetricsService],
  controllers: [MetricsController],
  exports: [IssueCounter, RequestStats, IssueHistory, ErrorHistory, LatencyHistory],
})
export class MetricsModule {}
