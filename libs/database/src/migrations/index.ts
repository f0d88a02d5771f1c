import { Init1767225600000 } from './1767225600000-init';
import { Segment1767225600100 } from './1767225600100-segment';
import { WorkerNode1767225600200 } from './1767225600200-worker-node';
import { Ticket1767225600300 } from './1767225600300-ticket';
import { SegmentGuard1767225600400 } from './1767225600400-segment-guard';
export { partitionTableMigration } from './partition-table';

/** Every migration, oldest first. Schema changes only here; `synchronize` is never on. */
export const MIGRATIONS = [Init1767225600000, Segment1767225600100, WorkerNode1767225600200, Ticket1767225600300, SegmentGuard1767225600400];
