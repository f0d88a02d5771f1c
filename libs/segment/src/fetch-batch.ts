import { IdError } from '@app/core';
import { FetchOutcome, FetchRequest } from './segment-store';

/** keys per batched statement: bounds the statement's size and how long it holds its rows */
export const FETCH_BATCH = 500;
/**
 * batches in flight at once: the rest of the pool (refills of keys in use, the poll, lookups)
 * is never queued behind first use
 */
export const FETCH_BATCHES_IN_FLIGHT = 2;

interface Pending {
  key: string;
  step: number;
  seen?: FetchRequest['seen'];
  resolve: (maxId: bigint) => void;
  reject: (e: unknown) => void;
}

/**
 * First fetches of many keys coalesced: those asked for in the same turn of the event loop (and
 * while the batches in flight are out) go to the store as one `fetchMany` of up to FETCH_BATCH
 * keys, at most FETCH_BATCHES_IN_FLIGHT at once. Each key's answer is its own (a range, or its
 * own refusal); a batch that fails fails every key in it with the same error, and each buffer
 * retries as after any failed fetch. A key already waiting (a buffer made again meanwhile) goes
 * to the next batch: a batch names each key once.
 */
export class FetchBatcher {
  private queue: Pending[] = [];
  private queuedKeys = new Set<string>();
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly send: (requests: FetchRequest[]) => Promise<FetchOutcome[]>) {}

  fetch(key: string, step: number, seen?: FetchRequest['seen']): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      this.queue.push({ key, step, seen, resolve, reject });
      this.schedule();
    });
  }

  /** waiting, not yet sent */
  get waiting(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= FETCH_BATCHES_IN_FLIGHT) return;
    this.scheduled = true;
    // after every first use of this turn has asked: they are answered by one lookup together
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < FETCH_BATCHES_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending[] = [];
      const later: Pending[] = [];
      const keys = this.queuedKeys;
      keys.clear();
      let i = 0;
      for (; i < this.queue.length && batch.length < FETCH_BATCH; i++) {
        const p = this.queue[i];
        if (keys.has(p.key)) later.push(p);
        else {
          keys.add(p.key);
          batch.push(p);
        }
      }
      this.queue = later.length === 0 ? this.queue.slice(i) : [...later, ...this.queue.slice(i)];
      keys.clear();
      this.inFlight++;
      void this.run(batch);
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      let outcomes: FetchOutcome[];
      try {
        outcomes = await this.send(batch.map(({ key, step, seen }) => (seen === undefined ? { key, step } : { key, step, seen })));
      } catch (e) {
        for (const p of batch) p.reject(e);
        return;
      }
      batch.forEach((p, i) => {
        const outcome = outcomes[i];
        if (typeof outcome === 'bigint') p.resolve(outcome);
        else p.reject(outcome ?? new IdError('DATABASE_UNAVAILABLE', `database unavailable: no answer for key "${p.key}" in a batched fetch`));
      });
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
