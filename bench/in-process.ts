import { randomUUID } from 'node:crypto';
import { v7 as uuidPkgV7, v4 as uuidPkgV4 } from 'uuid';
import { UuidV4, UuidV7 } from '@app/uuid';
import { Candidate } from './measure';

/** In-process ids/s of our generators beside the npm peers, same run. */
export function uuidCandidates(): Candidate[] {
  const v4 = new UuidV4();
  const v7 = new UuidV7();
  return [
    { name: 'crypto.randomUUID()', next: () => randomUUID() },
    { name: 'id-allocator uuid (v4)', next: () => v4.next() },
    { name: 'id-allocator uuidv7', next: () => v7.next() },
    { name: 'uuid@11 v4', next: () => uuidPkgV4() },
    { name: 'uuid@11 v7', next: () => uuidPkgV7() },
  ];
}
