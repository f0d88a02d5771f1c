import { IdError } from '@app/core';
import { SegmentBufferState } from './segment-buffer';
import { SegmentGenerator, SegmentLog } from './segment.generator';
import { MAX_ID, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';
import { BusinessFormat, FormatSpec, isPeriodKey, ParsedNumber, PERIOD_SEPARATOR } from './business-format';

/** A key as the admin API shows it: the row without our internal skip counter, its format as an object. */
export type SegmentKeyView = Omit<SegmentKeyRow, 'skipSeq' | 'format' | 'metaRow'> & { format: FormatSpec | null };

export interface SegmentListing extends SegmentKeyView {
  /** this instance's buffer for the key; null when the key is not in use here */
  buffer: SegmentBufferState | null;
  /** for a key halted anywhere: the smallest `{"to": N}` every live instance accepts */
  requiredSkipTarget: string | null;
}

export interface SkipResult extends SegmentKeyView {
  /** after this long, no instance that can read the database issues an id the skip left behind */
  appliedByAllWithinMs: number;
}

export interface SegmentAdminOptions {
  /** ID_SECRET is configured */
  publicAvailable: boolean;
  /** SEGMENT_STEP_MAX: how far above its high-water mark a re-created key must start */
  stepMax: number;
}

export interface CreateSegmentKey {
  key: string;
  startId: bigint;
  step: number;
  description: string | null;
  public: boolean;
  /** a business-number format as the body gave it (checked here), null or absent for none */
  format?: unknown;
}

function storedFormat(text: string | null | undefined): FormatSpec | null {
  if (!text) return null;
  try {
    return BusinessFormat.fromStored(text).spec;
  } catch {
    return null;
  }
}

export function viewOf(row: SegmentKeyRow): SegmentKeyView {
  const { skipSeq: _skipSeq, metaRow: _metaRow, format, ...view } = row;
  return { ...view, format: storedFormat(format) };
}

/** the format a body gives, checked against the key: its JSON text to store, null to remove it */
function checkedFormat(key: string, input: unknown, isPublic: boolean, keyLength: number): string | null {
  if (input === null || input === undefined) return null;
  const format = BusinessFormat.from(input);
  if (isPublic) {
    // FF1 permutes the key's 63-bit ids; a period's N-digit sequence is another set, and no
    // permutation of one is a permutation of the other
    throw new IdError('VALIDATION_FAILED', `key "${key}" is public: a format is refused (FF1 ids would not stay a permutation of a period's {seq:N} numbers)`, {
      details: [{ field: 'format', problem: 'not with a public key' }],
    });
  }
  const longest = key.length + (format.resets ? PERIOD_SEPARATOR.length + 8 : 0);
  if (longest > keyLength) {
    throw new IdError('VALIDATION_FAILED', `key "${key}": a period's own key (${key}~YYYYMMDD) would not fit the table's ${keyLength} characters`, {
      details: [{ field: 'key', problem: `at most ${keyLength - 9} characters with a reset` }],
    });
  }
  return JSON.stringify(format.spec);
}

/**
 * The admin operations on keys: each logged at info with before and after, and told to this
 * instance's buffers at once (other instances see skips and steps on their next poll).
 */
export class SegmentAdmin {
  constructor(
    private readonly store: SegmentStore,
    private readonly generator: SegmentGenerator,
    private readonly log: SegmentLog,
    private readonly options: SegmentAdminOptions = { publicAvailable: false, stepMax: 1_000_000 },
  ) {}

  async list(): Promise<SegmentListing[]> {
    const rows = await this.withHaltedPeriodKeys(await this.store.list(), () => true);
    this.generator.sawRows(rows);
    const required = await this.generator.requiredTargets(rows.map((r) => r.key));
    return rows.map((row) => ({
      ...viewOf(row),
      buffer: this.generator.buffer(row.key)?.state() ?? null,
      requiredSkipTarget: required.get(row.key)?.toString() ?? null,
    }));
  }

  /**
   * One page of keys. By key: in key order after the cursor (the last key of the previous page),
   * one statement. By rate: the keys in use here, halted first, then busiest first by `rateOf`
   * (this instance's rate: other instances' keys are not ranked), the cursor an offset. `prefix` narrows either.
   */
  async page(query: { limit: number; cursor: string | null; prefix: string | null; sort: 'key' | 'rate'; rateOf: (key: string) => number }) {
    const { limit, cursor, prefix } = query;
    let rows: SegmentKeyRow[];
    let nextCursor: string | null = null;
    if (query.sort === 'key') {
      rows = await this.store.listPage(cursor, limit + 1, prefix);
      if (rows.length > limit) {
        rows = rows.slice(0, limit);
        nextCursor = rows[rows.length - 1].key;
      }
      const last = nextCursor;
      rows = await this.withHaltedPeriodKeys(
        rows,
        (key) => (cursor === null || key > cursor) && (last === null || key <= last) && (prefix === null || key.startsWith(prefix)),
      );
    } else {
      const offset = cursor === null ? 0 : Number(cursor);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new IdError('VALIDATION_FAILED', 'cursor: with sort=rate, the nextCursor of the previous page', {
          details: [{ field: 'cursor', problem: 'not an offset' }],
        });
      }
      const ranked: [string, number][] = [];
      // halted keys first: the ones an operator must act on, whatever their rate
      for (const [key, { buffer }] of this.generator.inUse()) {
        // period keys stay out of every listing, as in the SQL of the key order
        if (isPeriodKey(key)) continue;
        if (prefix === null || key.startsWith(prefix)) ranked.push([key, buffer.isHalted ? Infinity : query.rateOf(key)]);
      }
      ranked.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      const keys = ranked.slice(offset, offset + limit).map(([key]) => key);
      if (offset + limit < ranked.length) nextCursor = String(offset + limit);
      const found = new Map((await this.store.findMany(keys)).map((r) => [r.key, r]));
      rows = keys.flatMap((key) => (found.has(key) ? [found.get(key)!] : []));
    }
    this.generator.sawRows(rows);
    const required = await this.generator.requiredTargets(rows.map((r) => r.key));
    const segments: SegmentListing[] = rows.map((row) => ({
      ...viewOf(row),
      buffer: this.generator.buffer(row.key)?.state() ?? null,
      requiredSkipTarget: required.get(row.key)?.toString() ?? null,
    }));
    return { segments, nextCursor };
  }

  /**
   * Period keys stay out of listings (a formatted key makes one a day), except those halted on
   * some instance: the runbook after a lost write skips every key that names a
   * requiredSkipTarget, and a period key it cannot see would stay halted. `within` keeps a page's
   * range. In key order, as the listing is.
   */
  private async withHaltedPeriodKeys(rows: SegmentKeyRow[], within: (key: string) => boolean): Promise<SegmentKeyRow[]> {
    const halted = (await this.generator.haltedPeriodKeys()).filter((key) => within(key) && !rows.some((r) => r.key === key));
    if (halted.length === 0) return rows;
    return [...rows, ...(await this.store.findMany(halted))].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** whether this instance's poll sees skips in time */
  skipStatus() {
    return this.generator.pollStatus();
  }

  async create(input: CreateSegmentKey): Promise<SegmentKeyView> {
    this.store.table.checkKey(input.key);
    if (input.public && !this.options.publicAvailable) {
      throw new IdError('VALIDATION_FAILED', 'public keys need ID_SECRET (16+ random characters, the same on every instance)', {
        details: [{ field: 'public', problem: 'ID_SECRET is not set' }],
      });
    }
    if (input.startId + BigInt(input.step) > MAX_ID) {
      throw new IdError('INVALID_START', `startId ${input.startId} leaves no room for one step of ${input.step} below 2^63-1`);
    }
    const format = checkedFormat(input.key, input.format, input.public, this.store.table.keyLength);
    const row = await this.store.create({ ...input, format, markMargin: BigInt(this.options.stepMax) });
    this.log.info(`admin: created key "${row.key}": ${JSON.stringify(viewOf(row))}`);
    return viewOf(row);
  }

  /** `format`: a new format, null to remove it, absent to keep it */
  async update(key: string, patch: { step?: number; description?: string | null; format?: unknown }): Promise<SegmentKeyView> {
    const before = await this.store.find(key);
    if (before === null) throw this.unknown(key);
    this.generator.sawRows([before]);
    const { format, ...rest } = patch;
    const stored = format === undefined ? undefined : checkedFormat(key, format, before.public, this.store.table.keyLength);
    const after = await this.store.update(key, { ...rest, ...(stored === undefined ? {} : { format: stored }) });
    if (after === null) throw this.unknown(key);
    this.generator.updated(after);
    this.log.info(`admin: updated key "${key}": before ${JSON.stringify(viewOf(before))} after ${JSON.stringify(viewOf(after))}`);
    return viewOf(after);
  }

  /**
   * max_id moves ahead, never back; cannot be undone. Refused when the first id it would let out
   * is not above what some live instance requires (published by halted instances).
   */
  async skip(key: string, target: SkipTarget): Promise<SkipResult> {
    const before = await this.store.find(key);
    if (before === null) throw this.unknown(key);
    this.generator.sawRows([before]);
    const required = (await this.generator.requiredTargets([key])).get(key);
    if (required !== undefined) {
      // the store's max_id after the skip is the first id issued; `{"to": N}` asks for max_id N + 1
      const firstId = 'by' in target ? BigInt(before.maxId) + target.by : target.to;
      if (firstId - 1n < required) {
        throw new IdError(
          'SKIP_BACKWARDS',
          `key "${key}": a live instance requires a skip to at least ${required} (1 + the highest id it issued or saw ` +
            `another instance reach); this skip would let out ids from ${firstId}: use {"to": ${required}}`,
        );
      }
    }
    const after = await this.store.skip(key, target);
    if (after === null) throw this.unknown(key);
    this.generator.skipped(after);
    this.log.info(
      `admin: skipped key "${key}" ${'by' in target ? `by ${target.by}` : `to above ${target.to - 1n}`}: ` +
        `max_id ${before.maxId} -> ${after.maxId} (cannot be undone)`,
    );
    return { ...viewOf(after), appliedByAllWithinMs: this.generator.appliedByAllWithinMs };
  }

  /** the underlying id behind a public id of a key */
  async reveal(key: string, id: string): Promise<{ id: string; underlyingId: string }> {
    const row = await this.store.find(key);
    if (row === null) throw this.unknown(key);
    this.generator.sawRows([row]);
    if (!row.public) {
      throw new IdError('VALIDATION_FAILED', `key "${key}" is not public: its ids are the underlying ids`, {
        details: [{ field: 'key', problem: 'not public' }],
      });
    }
    const underlyingId = this.generator.permutationFor(row).decryptString(id);
    this.log.info(`admin: revealed an id of key "${key}"`);
    return { id, underlyingId };
  }

  /** the period and sequence of a formatted id of a key */
  async parse(key: string, id: string): Promise<ParsedNumber & { id: string }> {
    const row = await this.store.find(key);
    if (row === null) throw this.unknown(key);
    this.generator.sawRows([row]);
    if (!row.format) {
      throw new IdError('VALIDATION_FAILED', `key "${key}" has no format: its ids are plain numbers`, {
        details: [{ field: 'key', problem: 'no format' }],
      });
    }
    return { id, ...BusinessFormat.fromStored(row.format).parse(id) };
  }

  private unknown(key: string): IdError {
    return new IdError('UNKNOWN_KEY', `unknown key "${key}"`);
  }
}
