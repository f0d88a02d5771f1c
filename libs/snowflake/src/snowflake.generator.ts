import { Clock, GeneratorHealth, IdError, IdGenerator } from '@app/core';
import type { BitPermutation } from '@app/fpe';
import { MAX_ID, SnowflakeLayout } from './snowflake-layout';
import { SnowflakeGenerator } from './snowflake-generator';
import { WorkerLease } from './worker-lease';

const YEAR_WARNING = 1;

export interface DecodedSnowflakeDto {
  id: string;
  /** ISO 8601 */
  timestamp: string;
  workerId: number;
  sequence: number;
}

/** `snowflake`: one sequence for every key, ordered by ms across instances, strictly increasing in one. */
export class SnowflakeIdGenerator implements IdGenerator {
  readonly strategy = 'snowflake';

  constructor(
    readonly layout: SnowflakeLayout,
    private readonly generator: SnowflakeGenerator,
    private readonly lease: WorkerLease,
    private readonly clock: Clock,
    /** SNOWFLAKE_PERMUTE: the low bits are permuted per ms */
    private readonly permute?: BitPermutation,
  ) {}

  get permuted(): boolean {
    return this.permute !== undefined;
  }

  next(_key: string, count: number): string[] | Promise<string[]> {
    return this.generator.next(count);
  }

  /**
   * Ready when the layout is valid now, the lease is held and fresh (renewed, the clock past the
   * previous holder's reservation) and the clock is not behind the last issued timestamp.
   */
  health(): GeneratorHealth {
    const now = this.clock.now();
    const lease = this.lease.status(now);
    const behind = this.generator.clockBehindMs(now);
    const expired = this.layout.expiredAt(now);
    const yearsLeft = this.layout.yearsLeft(now);
    const reasons: string[] = [];
    if (expired) reasons.push(`layout expired on ${new Date(this.layout.lastValidMs).toISOString()}`);
    if (!lease.usable && lease.reason) reasons.push(lease.reason);
    if (behind > 0) reasons.push(`the clock is ${behind} ms behind the last issued timestamp`);
    const detail: Record<string, unknown> = {
      workerId: lease.workerId,
      workerIdMode: lease.mode,
      layout: `${this.layout.timeBits},${this.layout.workerBits},${this.layout.sequenceBits}`,
      epoch: new Date(this.layout.epochMs).toISOString(),
      lastValidDate: new Date(this.layout.lastValidMs).toISOString(),
      yearsLeft: Math.round(yearsLeft * 100) / 100,
      lease: {
        held: lease.held,
        fresh: lease.usable,
        ...(lease.reservedUntil ? { reservedUntil: lease.reservedUntil } : {}),
        ...(lease.lastRenewMsAgo !== undefined ? { lastRenewMsAgo: lease.lastRenewMsAgo } : {}),
        ...(lease.poolFree !== undefined ? { poolFree: lease.poolFree, clockOffsetMs: lease.clockOffsetMs } : {}),
      },
      clockBehindMs: behind,
    };
    if (!expired && yearsLeft < YEAR_WARNING) {
      detail.warning = `the snowflake layout ends ${new Date(this.layout.lastValidMs).toISOString()}, under a year from now: plan a new epoch or layout`;
    }
    if (reasons.length > 0) detail.reason = reasons.join('; ');
    return { ready: reasons.length === 0, detail };
  }

  /**
   * The public decode: every field, or with permuted low bits only the timestamp (the worker id
   * and sequence would let anyone count). 400 INVALID_ID unless a decimal from 0 to 2^63-1.
   */
  decode(id: string): DecodedSnowflakeDto | { id: string; timestamp: string } {
    if (this.permute === undefined) return this.decodeFull(id);
    const value = parseId(id);
    return { id: value.toString(), timestamp: new Date(this.layout.decode(value).timestampMs).toISOString() };
  }

  /** Every field, the permutation undone (the admin route). */
  decodeFull(id: string): DecodedSnowflakeDto {
    const value = parseId(id);
    const d = this.layout.decode(value);
    let { workerId, sequence } = d;
    if (this.permute !== undefined) {
      const seqRange = this.layout.maxSequence + 1;
      const low = this.permute.decrypt(workerId * seqRange + sequence, d.timestampMs);
      workerId = Math.floor(low / seqRange);
      sequence = low % seqRange;
    }
    return { id: value.toString(), timestamp: new Date(d.timestampMs).toISOString(), workerId, sequence };
  }
}

export function parseId(id: string): bigint {
  if (typeof id !== 'string' || !/^[0-9]{1,19}$/.test(id)) {
    throw new IdError('INVALID_ID', 'id: a decimal snowflake id from 0 to 9223372036854775807, digits only');
  }
  const value = BigInt(id);
  if (value > MAX_ID) throw new IdError('INVALID_ID', 'id: above 2^63-1 (9223372036854775807), not a snowflake id');
  return value;
}
