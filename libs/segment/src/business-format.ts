import { IdError } from '@app/core';

/**
 * Business numbers (issue 30): the presentation of a segment key's ids, kept apart from their
 * generation as CosId keeps its IdConverter. The buffers and stores stay numeric; this class
 * turns (period, sequence) into `INV-20261207-000042` and back, and says which period an instant
 * belongs to in the format's time zone. No Nest, no database.
 *
 * Every placeholder has a fixed width ({seq:N} is zero-padded to N digits, never wider), so a
 * formatted id is parsed by position: no pattern is ambiguous, whatever digits its literal text
 * holds, and parse(format(p, s)) is (p, s) for every period and sequence the format can hold.
 */

export type PeriodReset = 'none' | 'day' | 'month' | 'year';
export type CheckDigitKind = 'luhn' | 'mod97';

export const PERIOD_RESETS: readonly PeriodReset[] = ['none', 'day', 'month', 'year'];
export const CHECK_DIGITS: readonly CheckDigitKind[] = ['luhn', 'mod97'];

/** A format as the admin API takes and shows it. */
export interface FormatSpec {
  pattern: string;
  reset: PeriodReset;
  timeZone: string;
  checkDigit: CheckDigitKind | null;
}

export interface FormatProblem {
  field: string;
  problem: string;
}

export const MAX_PATTERN_LENGTH = 64;
export const MAX_SEQ_WIDTH = 18;
/** literal text: what needs no escaping in JSON, a URL query or text/plain */
const LITERAL = /^[A-Za-z0-9._:/-]$/;

type Token =
  | { kind: 'literal'; text: string }
  | { kind: 'yyyy' | 'yy' | 'MM' | 'dd'; width: number }
  | { kind: 'seq'; width: number };

const DATE_WIDTH = { yyyy: 4, yy: 2, MM: 2, dd: 2 } as const;

/** the date parts each reset's period is made of; a pattern shows exactly these */
const PERIOD_PARTS: Record<PeriodReset, { year: boolean; month: boolean; day: boolean }> = {
  none: { year: false, month: false, day: false },
  year: { year: true, month: false, day: false },
  month: { year: true, month: true, day: false },
  day: { year: true, month: true, day: true },
};

/** A formatted id's parts: the period (`2026-12-07`, `2026-12`, `2026`, or null with reset none) and the sequence. */
export interface ParsedNumber {
  period: string | null;
  seq: string;
}

function invalid(problems: FormatProblem[]): IdError {
  return new IdError('VALIDATION_FAILED', `format: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`, { details: problems });
}

function tokenize(pattern: string, problems: FormatProblem[]): Token[] {
  const tokens: Token[] = [];
  let literal = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') {
      const close = pattern.indexOf('}', i);
      if (close < 0) {
        problems.push({ field: 'format.pattern', problem: `has "{" at position ${i} with no closing "}"` });
        return tokens;
      }
      const name = pattern.slice(i + 1, close);
      if (literal) tokens.push({ kind: 'literal', text: literal });
      literal = '';
      const seq = /^seq:(\d{1,3})$/.exec(name);
      if (name === 'yyyy' || name === 'yy' || name === 'MM' || name === 'dd') tokens.push({ kind: name, width: DATE_WIDTH[name] });
      else if (seq) {
        const width = Number(seq[1]);
        if (width < 1 || width > MAX_SEQ_WIDTH) {
          problems.push({ field: 'format.pattern', problem: `{seq:${seq[1]}}: the width must be from 1 to ${MAX_SEQ_WIDTH}` });
        }
        tokens.push({ kind: 'seq', width });
      } else {
        const shown = name.length > 20 ? `${name.slice(0, 20)}...` : name;
        problems.push({
          field: 'format.pattern',
          problem: `unknown placeholder {${shown}} at position ${i}: the placeholders are {yyyy} {yy} {MM} {dd} {seq:N}`,
        });
      }
      i = close;
    } else if (c === '}') {
      problems.push({ field: 'format.pattern', problem: `has "}" at position ${i} with no opening "{"` });
      return tokens;
    } else if (!LITERAL.test(c)) {
      problems.push({
        field: 'format.pattern',
        problem: `character ${JSON.stringify(c)} at position ${i} is not allowed in literal text (A-Z a-z 0-9 . _ : / -)`,
      });
      return tokens;
    } else literal += c;
  }
  if (literal) tokens.push({ kind: 'literal', text: literal });
  return tokens;
}

function checkParts(tokens: Token[], reset: PeriodReset, problems: FormatProblem[]): void {
  const count = (kind: Token['kind']) => tokens.filter((t) => t.kind === kind).length;
  const seqs = count('seq');
  if (seqs !== 1) {
    problems.push({ field: 'format.pattern', problem: `needs exactly one {seq:N} placeholder, has ${seqs}` });
  }
  for (const kind of ['yyyy', 'yy', 'MM', 'dd'] as const) {
    if (count(kind) > 1) problems.push({ field: 'format.pattern', problem: `has {${kind}} more than once` });
  }
  const year = count('yyyy') + count('yy');
  if (count('yyyy') > 0 && count('yy') > 0) problems.push({ field: 'format.pattern', problem: 'has both {yyyy} and {yy}: give the year once' });
  const want = PERIOD_PARTS[reset];
  const has = { year: year > 0, month: count('MM') > 0, day: count('dd') > 0 };
  const names = { year: '{yyyy} or {yy}', month: '{MM}', day: '{dd}' };
  for (const part of ['year', 'month', 'day'] as const) {
    if (want[part] && !has[part]) {
      problems.push({ field: 'format.pattern', problem: `reset "${reset}" needs ${names[part]} in the pattern: every number shows its period` });
    }
    if (!want[part] && has[part]) {
      problems.push({
        field: 'format.pattern',
        problem: `${names[part]} with reset "${reset}": the date parts are the period exactly (a finer part would show a date the sequence does not restart on)`,
      });
    }
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function dateFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** whether Intl knows the zone; a bad name throws RangeError */
export function isTimeZone(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  try {
    dateFormatter(name);
    return true;
  } catch {
    return false;
  }
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** the digits of a check over the id's digits (letters and punctuation are not counted) */
export function checkDigits(kind: CheckDigitKind, digits: string): string {
  if (kind === 'luhn') {
    let sum = 0;
    // from the right, the digit next to the check digit is doubled
    for (let i = digits.length - 1, double = true; i >= 0; i--, double = !double) {
      let d = digits.charCodeAt(i) - 48;
      if (double) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return String((10 - (sum % 10)) % 10);
  }
  // ISO 7064 MOD 97-10 (as IBAN): the two digits that make payload||check = 1 (mod 97)
  let r = 0;
  for (let i = 0; i < digits.length; i++) r = (r * 10 + digits.charCodeAt(i) - 48) % 97;
  r = (r * 100) % 97;
  return String(98 - r).padStart(2, '0');
}

function digitsOf(text: string): string {
  return text.replace(/[^0-9]/g, '');
}

/**
 * One key's format. `period(ms)` is the period an instant falls in, in the format's time zone:
 * '' (reset none), 'yyyy', 'yyyymm' or 'yyyymmdd', digits only, so it can name a derived key.
 */
export class BusinessFormat {
  readonly seqWidth: number;
  /** the largest sequence {seq:N} holds: 10^N - 1 */
  readonly maxSeq: bigint;
  private readonly tokens: Token[];
  private readonly length: number;
  private cachedMinute = NaN;
  private cachedPeriod = '';

  private constructor(
    readonly spec: FormatSpec,
    tokens: Token[],
  ) {
    this.tokens = tokens;
    const seq = tokens.find((t) => t.kind === 'seq') as { width: number };
    this.seqWidth = seq.width;
    this.maxSeq = 10n ** BigInt(seq.width) - 1n;
    const checkLength = spec.checkDigit === null ? 0 : spec.checkDigit === 'luhn' ? 1 : 2;
    this.length = tokens.reduce((n, t) => n + (t.kind === 'literal' ? t.text.length : t.width), 0) + checkLength;
  }

  /**
   * Checks a format as the admin body gives it; throws VALIDATION_FAILED with `details`, one
   * entry per problem, each naming its field (`format.pattern`, `format.reset`, ...).
   */
  static from(input: unknown): BusinessFormat {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw invalid([{ field: 'format', problem: 'must be an object {pattern, reset, timeZone, checkDigit} or null' }]);
    }
    const body = input as Record<string, unknown>;
    const problems: FormatProblem[] = [];
    for (const name of Object.keys(body)) {
      if (!['pattern', 'reset', 'timeZone', 'checkDigit'].includes(name)) {
        problems.push({ field: `format.${name.slice(0, 40)}`, problem: 'unknown field (pattern, reset, timeZone, checkDigit)' });
      }
    }
    const { pattern, reset = 'none', timeZone = 'UTC', checkDigit = null } = body;
    let tokens: Token[] = [];
    if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) {
      problems.push({ field: 'format.pattern', problem: `must be a string of 1 to ${MAX_PATTERN_LENGTH} characters` });
    } else {
      tokens = tokenize(pattern, problems);
    }
    if (typeof reset !== 'string' || !PERIOD_RESETS.includes(reset as PeriodReset)) {
      problems.push({ field: 'format.reset', problem: `must be one of ${PERIOD_RESETS.join(', ')}` });
    } else if (problems.length === 0) {
      checkParts(tokens, reset as PeriodReset, problems);
    }
    if (typeof timeZone !== 'string' || !isTimeZone(timeZone)) {
      problems.push({ field: 'format.timeZone', problem: 'must be an IANA time zone name, e.g. UTC or Asia/Shanghai' });
    }
    if (checkDigit !== null && (typeof checkDigit !== 'string' || !CHECK_DIGITS.includes(checkDigit as CheckDigitKind))) {
      problems.push({ field: 'format.checkDigit', problem: `must be ${CHECK_DIGITS.join(' or ')}, or null` });
    }
    if (problems.length > 0) throw invalid(problems);
    const spec: FormatSpec = {
      pattern: pattern as string,
      reset: reset as PeriodReset,
      timeZone: timeZone as string,
      checkDigit: checkDigit as CheckDigitKind | null,
    };
    return new BusinessFormat(spec, tokens);
  }

  /** the stored JSON text back as a format (it was checked when stored) */
  static fromStored(text: string): BusinessFormat {
    return BusinessFormat.from(JSON.parse(text));
  }

  toJSON(): FormatSpec {
    return this.spec;
  }

  get resets(): boolean {
    return this.spec.reset !== 'none';
  }

  /** the period `ms` falls in; cached per minute (every zone's offset changes on a whole minute) */
  period(ms: number): string {
    if (this.spec.reset === 'none') return '';
    const minute = Math.floor(ms / 60_000);
    if (minute === this.cachedMinute) return this.cachedPeriod;
    const period = this.periodAt(minute * 60_000);
    this.cachedMinute = minute;
    this.cachedPeriod = period;
    return period;
  }

  /** the period `ms` falls in, not cached (a look ahead must not evict the hot path's minute) */
  periodAt(ms: number): string {
    if (this.spec.reset === 'none') return '';
    let y = '';
    let m = '';
    let d = '';
    for (const part of dateFormatter(this.spec.timeZone).formatToParts(ms)) {
      if (part.type === 'year') y = part.value.padStart(4, '0');
      else if (part.type === 'month') m = part.value;
      else if (part.type === 'day') d = part.value;
    }
    return this.spec.reset === 'year' ? y : this.spec.reset === 'month' ? y + m : y + m + d;
  }

  /** the period after `period` (calendar arithmetic; no time zone needed) */
  successor(period: string): string {
    const y = Number(period.slice(0, 4));
    if (this.spec.reset === 'year') return String(y + 1).padStart(4, '0');
    const m = Number(period.slice(4, 6));
    const d = this.spec.reset === 'day' ? Number(period.slice(6, 8)) + 1 : 1;
    const next = new Date(Date.UTC(y, m - 1 + (this.spec.reset === 'month' ? 1 : 0), d));
    const text = `${String(next.getUTCFullYear()).padStart(4, '0')}${String(next.getUTCMonth() + 1).padStart(2, '0')}`;
    return this.spec.reset === 'month' ? text : text + String(next.getUTCDate()).padStart(2, '0');
  }

  /** whether seq fits {seq:N} */
  fits(seq: bigint): boolean {
    return seq >= 1n && seq <= this.maxSeq;
  }

  /**
   * `seq` (a decimal string of the underlying id) in the pattern for `period`. Throws
   * ID_SPACE_EXHAUSTED when it needs more than N digits, or the year does not fit {yy}
   * (2000-2099): never a wider or wrapped number.
   */
  format(period: string, seq: string, key = 'this key'): string {
    if (seq.length > this.seqWidth) throw this.exhausted(key, period);
    let out = '';
    for (const t of this.tokens) {
      switch (t.kind) {
        case 'literal':
          out += t.text;
          break;
        case 'seq':
          out += seq.padStart(t.width, '0');
          break;
        case 'yyyy':
          out += period.slice(0, 4);
          break;
        case 'yy':
          if (period.slice(0, 2) !== '20') throw this.exhausted(key, period, '{yy} holds the years 2000 to 2099');
          out += period.slice(2, 4);
          break;
        case 'MM':
          out += period.slice(4, 6);
          break;
        case 'dd':
          out += period.slice(6, 8);
          break;
      }
    }
    return this.spec.checkDigit === null ? out : out + checkDigits(this.spec.checkDigit, digitsOf(out));
  }

  exhausted(key: string, period: string, why?: string): IdError {
    const which = period === '' ? '' : ` for period ${this.shownPeriod(period)}`;
    return new IdError(
      'ID_SPACE_EXHAUSTED',
      `key "${key}"${which}: ${why ?? `{seq:${this.seqWidth}} holds ${this.maxSeq} numbers and they are used up`}` +
        (this.resets && why === undefined ? '; the next period starts again at 1' : ''),
    );
  }

  /** `20261207` as `2026-12-07` */
  shownPeriod(period: string): string {
    return [period.slice(0, 4), period.slice(4, 6), period.slice(6, 8)].filter((s) => s !== '').join('-');
  }

  /** a formatted id back to its period and sequence; INVALID_ID when it is not one this format makes */
  parse(id: string): ParsedNumber {
    const bad = (why: string) => new IdError('INVALID_ID', `id does not match the format ${this.spec.pattern}: ${why}`);
    if (id.length !== this.length) throw bad(`expected ${this.length} characters, got ${id.length}`);
    let at = 0;
    let y = '';
    let m = '';
    let d = '';
    let seq = '';
    for (const t of this.tokens) {
      if (t.kind === 'literal') {
        if (id.slice(at, at + t.text.length) !== t.text) throw bad(`expected "${t.text}" at position ${at}`);
        at += t.text.length;
        continue;
      }
      const part = id.slice(at, at + t.width);
      if (!/^[0-9]+$/.test(part)) throw bad(`expected ${t.width} digits at position ${at}`);
      at += t.width;
      if (t.kind === 'yyyy') y = part;
      else if (t.kind === 'yy') y = `20${part}`;
      else if (t.kind === 'MM') m = part;
      else if (t.kind === 'dd') d = part;
      else seq = part;
    }
    if (this.spec.checkDigit !== null) {
      const body = id.slice(0, at);
      if (id.slice(at) !== checkDigits(this.spec.checkDigit, digitsOf(body))) throw bad('the check digit does not match');
    }
    if (m !== '' && (Number(m) < 1 || Number(m) > 12)) throw bad(`month ${m}`);
    if (d !== '' && (Number(d) < 1 || Number(d) > daysIn(Number(y), Number(m)))) throw bad(`day ${d} of ${y}-${m}`);
    const value = seq.replace(/^0+/, '');
    if (value === '') throw bad('sequence 0 is never issued');
    return { period: this.resets ? this.shownPeriod(y + m + d) : null, seq: value };
  }

  /** the period a parsed id names, as period() spells it (digits only) */
  static periodDigits(parsed: ParsedNumber): string {
    return parsed.period === null ? '' : parsed.period.replace(/-/g, '');
  }
}

/** A period's own key: `invoices~20261207`. `~` is never in a key a caller may name (KEY_PATTERN). */
export const PERIOD_SEPARATOR = '~';

export function periodKey(key: string, period: string): string {
  return period === '' ? key : `${key}${PERIOD_SEPARATOR}${period}`;
}

export function isPeriodKey(key: string): boolean {
  return key.includes(PERIOD_SEPARATOR);
}
