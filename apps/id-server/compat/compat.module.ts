import { Module } from '@nestjs/common';
import { PartitionModule } from '@app/segment';
import { AllocController } from './alloc.controller';
import { LeafController } from './leaf.controller';

@Module({ imports: [PartitionModule], controllers: [AllocController, LeafController] })
export class CompatModule {}
