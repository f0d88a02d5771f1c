import { Module } from '@nestjs/common';
import { PartitionModule } from '@app/segment';
import { AllocRoutes } from './alloc.routes';
import { LeafRoutes } from './leaf.routes';

/** go-id-alloc's /alloc and Leaf's routes (served directly on Fastify; documented by AllocController and LeafController). */
@Module({ imports: [PartitionModule], providers: [AllocRoutes, LeafRoutes] })
export class CompatModule {}
