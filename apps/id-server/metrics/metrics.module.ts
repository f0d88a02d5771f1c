import { Global, Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { IssueCounter } from './issue-counter';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  imports: [SegmentModule, PartitionModule],
  providers: [IssueCounter, MetricsService],
  controllers: [MetricsController],
  exports: [IssueCounter],
})
export class MetricsModule {}
