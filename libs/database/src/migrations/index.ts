import { Init1767225600000 } from './1767225600000-init';
import { segmentTableMigration } from './1767225600100-segment';
import { WorkerNode1767225600200 } from './1767225600200-worker-node';
import { Ticket1767225600300 } from './1767225600300-ticket';
import { SegmentGuard1767225600400 } from './1767225600400-segment-guard';
import { PartitionLayout1767225600500 } from './partition-table';
import { SegmentChange1767225600600 } from './1767225600600-segment-change';
import { SegmentFormat1767225600700 } from './1767225600700-segment-format';
import { Idempotency1767225600800 } from './1767225600800-idempotency';
export { partitionTableMigration, PartitionLayout1767225600500 } from './partition-table';

/**
 * Every migration, oldest first, for a segment table name (SEGMENT_TABLE). Schema changes only
 * here; `synchronize` is never on.
 */
export function migrationsFor(segmentTable: string) {
  return [
    Init1767225600000,
    segmentTableMigration(segmentTable),
    WorkerNode1767225600200,
    Ticket1767225600300,
    SegmentGuard1767225600400,
    PartitionLayout1767225600500,
    SegmentChange1767225600600,
    SegmentFormat1767225600700,
    Idempotency1767225600800,
  ];
}
