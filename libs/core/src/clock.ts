/** Wall-clock milliseconds, injectable so algorithms are tested with a fake clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock a test moves by hand, steps back included. */
export class FakeClock implements Clock {
  constructor(private ms = 1_767_225_600_000) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
