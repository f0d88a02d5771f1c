import { Module } from '@nestjs/common';
import { PartitionModule, SegmentModule } from '@app/segment';
import { AllocRoutes } from './alloc.routes';
import { LeafRoutes } from './leaf.routes';

/** go-id-alloc's /alloc and /health?biz_tag, Leaf's routes (served directly on Fastify; documented by AllocController and LeafController). */
@Module({ imports: [PartitionModule, SegmentModule], providers: [AllocRoutes, LeafRoutes] })
export class CompatModule {}
