import { randomUUID } from 'node:crypto';
import { Clock, systemClock } from './clock';
import { IdError } from './errors';

/** One Idempotency-Key's row: who answers it, and the answer once given. */
export interface IdempotencyRecord {
  fingerprint: string;
  /** the attempt that holds the row (a fresh random id per attempt) */
  owner: string;
  /** the answer's body; null while the first request is still being answered */
  answer: string | null;
  createdAt: number;
}

/** The statements idempotent allocation needs (one small store per dialect). */
export interface IdempotencyStore {
  /** inserts a pending row unless one exists: whether this call made it */
  claim(key: string, fingerprint: string, owner: string, nowMs: number): Promise<boolean>;
  read(key: string): Promise<IdempotencyRecord | null>;
  /** the answer of a pending row `owner` still holds: false when another attempt took it over */
  complete(key: string, owner: string, answer: string): Promise<boolean>;
  /** removes a pending row `owner` holds (its request failed and answered no ids) */
  release(key: string, owner: string): Promise<void>;
  /** compare-and-set on the owner: the row (expired, or pending past its stale time) made fresh for `owner` */
  takeOver(key: string, previousOwner: string, owner: string, fingerprint: string, nowMs: number): Promise<boolean>;
  /** deletes up to `limit` rows created before `beforeMs`; how many */
  purge(beforeMs: number, limit: number): Promise<number>;
}

export interface IdempotencyOptions {
  /** IDEMPOTENCY_TTL_MS: how long an answer is kept and given again */
  ttlMs: number;
  /** how long a duplicate waits for the first request's answer before 409 IDEMPOTENCY_IN_PROGRESS */
  waitMs: number;
  /** a pending row older than this is an attempt that died (crash, lost connection): a retry takes it over */
  pendingStaleMs: number;
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
}

export interface IdempotentAnswer {
  body: string;
  /** true when this is the stored answer of an earlier request */
  replayed: boolean;
}

/** Idempotency-Key header values: 1 to 255 visible ASCII characters */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function checkIdempotencyKey(value: unknown): string {
  if (typeof value !== 'string' || !KEY_PATTERN.test(value)) {
    throw new IdError('VALIDATION_FAILED', 'Idempotency-Key: 1 to 255 visible ASCII characters, given once (a UUID is a good one)', {
      details: [{ field: 'Idempotency-Key', problem: 'not 1 to 255 visible ASCII characters' }],
    });
  }
  return value;
}

/**
 * Idempotent allocation (the IETF Idempotency-Key draft): the first request with a key claims
 * its row and produces the answer; the same key and fingerprint within the TTL gets that answer
 * again, from any instance (the row is in the database); another fingerprint is 422; a duplicate
 * that arrives while the first is being answered waits for it, up to waitMs, then 409.
 *
 * Exactly one set of ids is ever answered for a key: an attempt answers only after storing its
 * answer in the row it still holds (compare-and-set on a random owner id). An attempt that died
 * leaves a pending row that a retry takes over after pendingStaleMs; if the first attempt was
 * merely slow, its late store fails and it answers 409 instead of its ids (a gap, never two sets).
 * A request that fails releases its row: it answered no ids, so a retry asks afresh.
 */
export class IdempotentIssuer {
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly options: IdempotencyOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async issue(key: string, fingerprint: string, produce: () => string | Promise<string>): Promise<IdempotentAnswer> {
    const deadline = this.clock.now() + this.options.waitMs;
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      const now = this.clock.now();
      const owner = randomUUID();
      if (await this.store.claim(key, fingerprint, owner, now)) return this.answer(key, owner, produce);
      const row = await this.store.read(key);
      if (row !== null) {
        const expired = row.createdAt <= now - this.options.ttlMs;
        const abandoned = row.answer === null && row.createdAt <= now - this.options.pendingStaleMs;
        if (expired || abandoned) {
          if (await this.store.takeOver(key, row.owner, owner, fingerprint, now)) return this.answer(key, owner, produce);
          continue;
        }
        if (row.fingerprint !== fingerprint) {
          throw new IdError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with other parameters (strategy, key, count or format); use a new key for a new request');
        }
        if (row.answer !== null) return { body: row.answer, replayed: true };
      }
      // pending (or released meanwhile: claimed again on the next turn)
      if (this.clock.now() >= deadline) throw inProgress();
      await this.sleep(pause);
    }
  }

  private async answer(key: string, owner: string, produce: () => string | Promise<string>): Promise<IdempotentAnswer> {
    let body: string;
    try {
      body = await produce();
    } catch (e) {
      await this.store.release(key, owner).catch(() => undefined);
      throw e;
    }
    // only a stored answer is given: a retry must find these ids, or none were handed out
    if (!(await this.store.complete(key, owner, body))) throw inProgress();
    return { body, replayed: false };
  }

  /** removes expired rows in batches of `limit`, at most `batches` of them; how many */
  async purgeExpired(limit = 1000, batches = 10): Promise<number> {
    const before = this.clock.now() - this.options.ttlMs;
    let total = 0;
    for (let i = 0; i < batches; i++) {
      const n = await this.store.purge(before, limit);
      total += n;
      if (n < limit) break;
    }
    return total;
  }
}

function inProgress(): IdError {
  return new IdError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being answered; retry shortly for its answer');
}
