import { Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { AllocController } from './alloc.controller';
import { LeafController } from './leaf.controller';

@Module({ imports: [PartitionModule, SegmentModule], controllers: [AllocController, LeafController] })
export class CompatModule {}
