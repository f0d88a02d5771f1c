/**
 * The checker: every id handed to a client, by every instance, over the whole run, in full (no
 * sample), per sequence (`segment:<key>`, `partition`). A repeat is a failure unless it is the
 * one repeat the product documents: after a database lost writes (asynchronous failover,
 * restore, Galera without flushing), ids from a lost fetch repeated by an instance that could
 * not have known of it (no answer it received had read the database after that fetch and
 * before the loss). Liveness: every instance issues every key once the faults stop and the
 * runbooks ran; an answer that is not an IdError (a crash) is a failure.
 */
import { isIdError } from '@app/core';
import { PartitionLayout, rangeOf } from '../libs/segment/src/partition-layout';
import type { AllocationObserver, CommitRecord, FetchObserver, SimDatabase } from './sim-database';

interface HeldRange {
  who: string;
  start: bigint;
  end: bigint;
  db: SimDatabase;
  commit: number;
  sentAt: number;
  subject: string;
  /** the counter this fetch left in the table: max_id for a key, the allocation number for a partition */
  value: bigint;
}

interface Answer {
  ranAt: number;
  deliveredAt: number;
  revealed: [string, bigint][];
}

export interface Duplicate {
  ns: string;
  id: string;
  first: string;
  second: string;
  explained: boolean;
  why: string;
}

interface WorldView {
  readonly time: { now: number };
  readonly mainDb: SimDatabase;
  readonly partitionDbs: SimDatabase[];
  trace(line: string): void;
}

export class Checker implements FetchObserver, AllocationObserver {
  private readonly seen = new Map<string, Map<string, string>>();
  private readonly ranges = new Map<string, HeldRange[]>();
  private readonly answers = new Map<string, Answer[]>();
  readonly duplicates: Duplicate[] = [];
  readonly problems: string[] = [];
  readonly stalls: string[] = [];
  readonly refusals = new Map<string, number>();
  idsChecked = 0;
  /** each partition's first layout (a restore may lose the record; the sim never re-bases) */
  private readonly layouts = new Map<number, PartitionLayout>();

  constructor(private readonly world: WorldView) {}

  /** wires the answer hook of every database (after the world made them) */
  attach(dbs: SimDatabase[]): void {
    for (const db of dbs) {
      db.onAnswer = (who, revealed, ranAt, deliveredAt) => {
        const k = `${who}@${db.name}`;
        let list = this.answers.get(k);
        if (!list) this.answers.set(k, (list = []));
        list.push({ ranAt, deliveredAt, revealed });
      };
    }
  }

  fetched(who: string, key: string, maxId: bigint, step: number, commit: number, sentAt: number): void {
    const start = maxId - BigInt(step);
    this.addRange(`segment:${key}`, { who, start: start < 1n ? 1n : start, end: maxId, db: this.world.mainDb, commit, sentAt, subject: key, value: maxId });
  }

  allocated(who: string, idx: number, n: bigint, commit: number, sentAt: number): void {
    const db = this.world.partitionDbs[idx - 1];
    // the layout allocation n was made under: the latest complete one it is not below (a re-base's
    // fence allocation is the old layout's last)
    const layouts = db.state.partitions.get(idx)?.layouts ?? [];
    const inForce = layouts.filter((l) => l.complete && l.first <= n).sort((a, b) => b.version - a.version)[0];
    const layout = inForce ?? this.layouts.get(idx);
    if (!layout) return;
    if (inForce && layouts.length === 1) this.layouts.set(idx, layout);
    const range = rangeOf(layout, n);
    if (range) this.addRange('partition', { who, ...range, db, commit, sentAt, subject: `p${idx}`, value: n });
  }

  private addRange(ns: string, r: HeldRange): void {
    let list = this.ranges.get(ns);
    if (!list) this.ranges.set(ns, (list = []));
    list.push(r);
  }

  issued(ns: string, ids: string[], who: string): void {
    let seen = this.seen.get(ns);
    if (!seen) this.seen.set(ns, (seen = new Map()));
    for (const id of ids) {
      this.idsChecked++;
      const first = seen.get(id);
      if (first === undefined) {
        seen.set(id, who);
        continue;
      }
      const { explained, why } = this.explain(ns, BigInt(id), first, who);
      this.duplicates.push({ ns, id, first, second: who, explained, why });
      if (!explained) this.world.trace(`DUPLICATE ${ns} id ${id}: first by ${first}, again by ${who} (${why})`);
    }
  }

  /** (worker id, ms) -> the session that issued snowflake ids in it */
  private readonly snowflakeSlots = new Map<string, string>();
  private readonly sharedSlots = new Set<string>();

  /**
   * Snowflake ids, held to what makes them unique: one holder per worker id and ms. Two sessions
   * issuing in the same (worker id, ms) is a failure even when their random sequence offsets did
   * not collide this time (the next run's would). `lowBits`/`sequenceBits`: the layout's widths.
   */
  snowflakeIssued(ids: string[], who: string, sequenceBits: number, workerBits: number): void {
    this.issued('snowflake', ids, who);
    for (const id of ids) {
      const v = BigInt(id);
      const ms = v >> BigInt(sequenceBits + workerBits);
      const worker = (v >> BigInt(sequenceBits)) & ((1n << BigInt(workerBits)) - 1n);
      const slot = `${worker}@${ms}`;
      const holder = this.snowflakeSlots.get(slot);
      if (holder === undefined) this.snowflakeSlots.set(slot, who);
      else if (holder !== who && !this.sharedSlots.has(`${holder}|${who}`)) {
        this.sharedSlots.add(`${holder}|${who}`);
        this.problem(`snowflake worker id ${worker} issued in the same ms (${ms} after the epoch) by ${holder} and ${who}: two holders at once`);
      }
    }
  }

  /** the documented repeat: a lost fetch repeated by an instance that could not know of it */
  private explain(ns: string, id: bigint, first: string, second: string): { explained: boolean; why: string } {
    const all = this.ranges.get(ns) ?? [];
    const holding = (who: string) => all.filter((r) => r.who === who && r.start <= id && id < r.end);
    for (const a of holding(first)) {
      for (const b of holding(second)) {
        for (const [lostOne, other] of [
          [a, b],
          [b, a],
        ] as const) {
          const c = lostOne.db.commits.get(lostOne.commit);
          if (!c?.lost) continue;
          if (!this.knew(other, lostOne, c)) return { explained: true, why: `fetch #${c.seq} (${c.what} by ${c.who}) lost by the database before ${other.who} could see it` };
        }
      }
    }
    return { explained: false, why: 'no lost write explains it' };
  }

  /**
   * whether the instance that made `fetch` had received, before sending it, an answer that showed
   * the table at or past the lost fetch (read before the loss)
   */
  private knew(fetch: HeldRange, lost: HeldRange, c: CommitRecord): boolean {
    const answers = this.answers.get(`${fetch.who}@${lost.db.name}`) ?? [];
    return answers.some(
      (a) =>
        a.ranAt < (c.lostAt ?? Infinity) &&
        a.deliveredAt <= fetch.sentAt &&
        a.revealed.some(([subject, value]) => subject === lost.subject && value >= lost.value),
    );
  }

  refused(ns: string, e: unknown): void {
    if (!isIdError(e)) {
      this.problems.push(`${ns}: an answer that is not a stable error: ${String(e)}`);
      return;
    }
    this.refusals.set(e.code, (this.refusals.get(e.code) ?? 0) + 1);
  }

  problem(message: string): void {
    this.problems.push(message);
    this.world.trace(`PROBLEM ${message}`);
  }

  stuck(message: string): void {
    this.stalls.push(message);
    this.world.trace(`STUCK ${message}`);
  }

  /** unavailable with a named reason and remedy outside the runbooks simulated */
  readonly namedHalts: string[] = [];
  namedHalt(message: string): void {
    this.namedHalts.push(message);
    this.world.trace(`NAMED HALT ${message}`);
  }

  highestIssued(ns: string): bigint {
    let max = 0n;
    for (const id of this.seen.get(ns)?.keys() ?? []) {
      const v = BigInt(id);
      if (v > max) max = v;
    }
    return max;
  }

  get unexplained(): Duplicate[] {
    return this.duplicates.filter((d) => !d.explained);
  }
}
