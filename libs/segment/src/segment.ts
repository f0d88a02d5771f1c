const SAFE_END = BigInt(Number.MAX_SAFE_INTEGER) + 1n;

/**
 * One fetched range [start, end) and the cursor through it. Ranges below 2^53 issue from a
 * number (String(n) is the fast path); above it from a bigint, exact.
 */
export class Segment {
  readonly start: bigint;
  readonly end: bigint;
  readonly size: number;
  private readonly safe: boolean;
  private nextNumber: number;
  private nextBig: bigint;
  private issued = 0;

  constructor(
    start: bigint,
    end: bigint,
    /** the independent sequence the range belongs to (a partition); '' for a key's own */
    readonly lane = '',
  ) {
    this.start = start;
    this.end = end;
    this.size = Number(end - start);
    this.safe = end <= SAFE_END;
    this.nextNumber = this.safe ? Number(start) : 0;
    this.nextBig = start;
  }

  get remaining(): number {
    return this.size - this.issued;
  }

  /** share of the range already issued, 0..1 */
  get used(): number {
    return this.issued / this.size;
  }

  /** ids handed out from this range so far */
  get issuedCount(): number {
    return this.issued;
  }

  /** the next id to issue, exact */
  get nextId(): bigint {
    return this.start + BigInt(this.issued);
  }

  /** the next id to issue, exact, as a decimal string */
  get next(): string {
    return this.safe ? String(this.nextNumber) : this.nextBig.toString();
  }

  /** caller checks remaining > 0 */
  takeString(): string {
    this.issued++;
    return this.safe ? String(this.nextNumber++) : (this.nextBig++).toString();
  }

  /** caller checks remaining > 0 and that the range is below 2^53 */
  takeNumber(): number {
    this.issued++;
    return this.safe ? this.nextNumber++ : Number(this.nextBig++);
  }

  get isSafe(): boolean {
    return this.safe;
  }
}
