import type { EntitySchema } from 'typeorm';
import { EntityDialect } from './dialect';
import { idMetaEntity } from './id-meta.entity';
import { idempotencyEntity } from './idempotency.entity';
import { partitionLayoutEntity, partitionTableEntity } from './partition.entities';
import { segmentChangeEntity, segmentHaltEntity, segmentMetaEntity, segmentTableEntity, SegmentTableShape } from './segment.entities';
import { ticketEntity } from './ticket.entity';
import { workerNodeEntity } from './worker-node.entity';

export * from './dialect';
export * from './id-meta.entity';
export * from './idempotency.entity';
export * from './partition.entities';
export * from './segment.entities';
export * from './ticket.entity';
export * from './worker-node.entity';

/**
 * The entities of the main database, as migrationsFor and partitionTableMigration create its
 * tables: every table, partition_N for the partitions placed there. The migrations stay the
 * schema's source of truth (synchronize is never on); test/entities.e2e-spec.ts shows the two agree.
 */
export function entitiesFor(dialect: EntityDialect, segmentTable: SegmentTableShape, partitionsHere: number[]): EntitySchema<any>[] {
  return [segmentTableEntity(dialect, segmentTable), ...storeEntitiesFor(dialect), ...partitionsHere.map((idx) => partitionTableEntity(dialect, idx))];
}

/**
 * The tables every main database has, for a pool opened without naming its entities (a test's,
 * the lease's): the stores' repositories find their entity whichever pool they are given.
 */
export function storeEntitiesFor(dialect: EntityDialect): EntitySchema<any>[] {
  return [
    idMetaEntity(dialect),
    segmentMetaEntity(dialect),
    segmentHaltEntity(dialect),
    segmentChangeEntity(dialect),
    workerNodeEntity(dialect),
    ticketEntity(dialect),
    partitionLayoutEntity(dialect),
    idempotencyEntity(dialect),
  ];
}

/** A partition's own database: its partition_N and partition_layout. */
export function partitionEntitiesFor(dialect: EntityDialect, idx: number): EntitySchema<any>[] {
  return [partitionTableEntity(dialect, idx), partitionLayoutEntity(dialect)];
}

/** the segment table as the migration creates it under the configured name */
export function ownSegmentTable(name: string): SegmentTableShape {
  return { name, descriptionColumn: 'description', keyLength: 128 };
}
