/**
 * The bit layout of a snowflake id (DESIGN.md, "Snowflake strategy"): sign bit 0, then
 * `timeBits` of milliseconds since the epoch, `workerBits` of worker id, `sequenceBits` of
 * sequence. Checked once at start; every figure here is a plain number (all below 2^53).
 */

import { StartupError } from '@app/core';

/** The widths a layout may have; outside them the service either dies young or wastes bits. */
export const LAYOUT_LIMITS = {
  /** 2^35 ms is about 1.1 years: less is no service life at all */
  time: { min: 35, max: 52 },
  worker: { min: 0, max: 20 },
  /** at least 2 ids per ms; at most 4M per ms */
  sequence: { min: 1, max: 22 },
} as const;

export const ID_BITS = 63;
export const MAX_ID = 2n ** 63n - 1n;
const YEAR_MS = 365.25 * 24 * 3600 * 1000;

/** A bad SNOWFLAKE_BITS / SNOWFLAKE_EPOCH, or a layout past its end of life: start refused. */
export class SnowflakeLayoutError extends StartupError {
  constructor(message: string) {
    super(message);
    this.name = 'SnowflakeLayoutError';
  }
}

export interface DecodedSnowflake {
  /** Unix ms */
  timestampMs: number;
  workerId: number;
  sequence: number;
}

export class SnowflakeLayout {
  /** worker bits + sequence bits: the low part of the id, below the timestamp */
  readonly lowBits: number;
  readonly maxWorkerId: number;
  readonly maxSequence: number;
  /** largest timestamp field value (ms since epoch) */
  readonly maxTimeField: number;
  /** the last Unix ms an id can carry; after it the layout is expired */
  readonly lastValidMs: number;

  constructor(
    readonly timeBits: number,
    readonly workerBits: number,
    readonly sequenceBits: number,
    /** Unix ms of timestamp 0 */
    readonly epochMs: number,
  ) {
    SnowflakeLayout.check(timeBits, workerBits, sequenceBits, epochMs);
    this.lowBits = workerBits + sequenceBits;
    this.maxWorkerId = 2 ** workerBits - 1;
    this.maxSequence = 2 ** sequenceBits - 1;
    this.maxTimeField = 2 ** timeBits - 1;
    this.lastValidMs = epochMs + this.maxTimeField;
  }

  /** From SNOWFLAKE_BITS ("41,10,12") and SNOWFLAKE_EPOCH (ISO date or Unix ms). */
  static parse(bits: string, epoch: string | number): SnowflakeLayout {
    const parts = String(bits).split(',').map((s) => s.trim());
    if (parts.length !== 3 || !parts.every((p) => /^\d{1,2}$/.test(p))) {
      throw new SnowflakeLayoutError(`SNOWFLAKE_BITS: must be three widths "time,worker,sequence", e.g. 41,10,12 (got "${bits}")`);
    }
    const [t, w, s] = parts.map(Number);
    return new SnowflakeLayout(t, w, s, parseEpoch(epoch));
  }

  private static check(t: number, w: number, s: number, epochMs: number): void {
    const bad = (name: keyof typeof LAYOUT_LIMITS, v: number) =>
      !Number.isInteger(v) || v < LAYOUT_LIMITS[name].min || v > LAYOUT_LIMITS[name].max;
    if (t + w + s !== ID_BITS) {
      throw new SnowflakeLayoutError(`SNOWFLAKE_BITS: the widths must sum to 63 (got ${t}+${w}+${s} = ${t + w + s})`);
    }
    for (const [name, v] of [['time', t], ['worker', w], ['sequence', s]] as const) {
      if (bad(name, v)) {
        const { min, max } = LAYOUT_LIMITS[name];
        throw new SnowflakeLayoutError(`SNOWFLAKE_BITS: ${name} bits must be from ${min} to ${max} (got ${v})`);
      }
    }
    if (!Number.isSafeInteger(epochMs) || epochMs < 0) {
      throw new SnowflakeLayoutError(`SNOWFLAKE_EPOCH: must be a date from 1970 on (got ${epochMs})`);
    }
  }

  /** Refuses a layout that cannot issue an id at `nowMs`: epoch in the future or past end of life. */
  assertUsableAt(nowMs: number): void {
    if (nowMs < this.epochMs) {
      throw new SnowflakeLayoutError(
        `SNOWFLAKE_EPOCH: ${new Date(this.epochMs).toISOString()} is in the future; timestamps would be negative`,
      );
    }
    if (nowMs > this.lastValidMs) {
      throw new SnowflakeLayoutError(
        `SNOWFLAKE_BITS/SNOWFLAKE_EPOCH: the layout ran out on ${new Date(this.lastValidMs).toISOString()}; ` +
          `issuing now would wrap the timestamp and repeat ids. Choose a later epoch or more time bits (ids must still never repeat: check against issued ones)`,
      );
    }
  }

  expiredAt(nowMs: number): boolean {
    return nowMs > this.lastValidMs;
  }

  /** time left before the last valid date, in years (negative once expired) */
  yearsLeft(nowMs: number): number {
    return (this.lastValidMs - nowMs) / YEAR_MS;
  }

  /** The id as two exact halves: value = hi * 2^32 + lo (hi < 2^31, lo < 2^32). */
  halves(timestampMs: number, workerId: number, sequence: number): { hi: number; lo: number } {
    const t = timestampMs - this.epochMs;
    const low = workerId * 2 ** this.sequenceBits + sequence; // < 2^lowBits <= 2^28
    const split = 2 ** (32 - this.lowBits);
    const tHi = Math.floor(t / split);
    const tLo = t - tHi * split;
    return { hi: tHi, lo: tLo * 2 ** this.lowBits + low };
  }

  compose(timestampMs: number, workerId: number, sequence: number): bigint {
    this.checkFields(timestampMs, workerId, sequence);
    return (
      (BigInt(timestampMs - this.epochMs) << BigInt(this.lowBits)) |
      (BigInt(workerId) << BigInt(this.sequenceBits)) |
      BigInt(sequence)
    );
  }

  decode(id: bigint | string): DecodedSnowflake {
    const v = typeof id === 'bigint' ? id : BigInt(id);
    if (v < 0n || v > MAX_ID) throw new RangeError(`not a 63-bit id: ${id}`);
    return {
      timestampMs: Number(v >> BigInt(this.lowBits)) + this.epochMs,
      workerId: Number((v >> BigInt(this.sequenceBits)) & BigInt(this.maxWorkerId)),
      sequence: Number(v & BigInt(this.maxSequence)),
    };
  }

  describe(): string {
    return `${this.timeBits},${this.workerBits},${this.sequenceBits} from ${new Date(this.epochMs).toISOString()}`;
  }

  private checkFields(timestampMs: number, workerId: number, sequence: number): void {
    const t = timestampMs - this.epochMs;
    if (!Number.isInteger(t) || t < 0 || t > this.maxTimeField) throw new RangeError(`timestamp ${timestampMs} outside the layout`);
    if (!Number.isInteger(workerId) || workerId < 0 || workerId > this.maxWorkerId) throw new RangeError(`worker id ${workerId} outside the layout`);
    if (!Number.isInteger(sequence) || sequence < 0 || sequence > this.maxSequence) throw new RangeError(`sequence ${sequence} outside the layout`);
  }
}

/** SNOWFLAKE_EPOCH: Unix ms (digits) or an ISO date. */
export function parseEpoch(epoch: string | number): number {
  if (typeof epoch === 'number') return epoch;
  const s = epoch.trim();
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isSafeInteger(ms)) throw new SnowflakeLayoutError(`SNOWFLAKE_EPOCH: must be an ISO date or milliseconds (got "${epoch}")`);
  return ms;
}
