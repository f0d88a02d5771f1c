import { Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { DashboardController } from '../dashboard/dashboard.controller';
import { RatesController } from '../dashboard/rates.controller';
import { AdminInfoController } from './admin-info.controller';
import { PartitionsController } from './partitions.controller';
import { SegmentsController } from './segments.controller';

@Module({ imports: [SegmentModule, PartitionModule], controllers: [AdminInfoController, SegmentsController, PartitionsController, DashboardController, RatesController] })
export class AdminModule {}
