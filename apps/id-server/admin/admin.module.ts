import { Module } from '@nestjs/common';
import { SegmentModule } from '@app/segment';
import { AdminInfoController } from './admin-info.controller';
import { SegmentsController } from './segments.controller';

@Module({ imports: [SegmentModule], controllers: [AdminInfoController, SegmentsController] })
export class AdminModule {}
