import { Global, Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { IssueCounter } from './issue-counter';
import { ISSUE_HISTORY_PROVIDER } from './issue-history.provider';
import { IssueHistory } from './issue-history';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { RequestStats } from './request-stats';

@Global()
@Module({
  imports: [SegmentModule, PartitionModule],
  providers: [IssueCounter, RequestStats, ISSUE_HISTORY_PROVIDER, MetricsService],
  controllers: [MetricsController],
  exports: [IssueCounter, RequestStats, IssueHistory],
})
export class MetricsModule {}
