import { IdError } from '@app/core';
import { BusinessFormat, checkDigits, periodKey } from './business-format';

function problemsOf(input: unknown): { field: string; problem: string }[] {
  try {
    BusinessFormat.from(input);
  } catch (e) {
    expect(e).toBeInstanceOf(IdError);
    expect((e as IdError).code).toBe('VALIDATION_FAILED');
    return (e as IdError).details as { field: string; problem: string }[];
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

/** a small seeded PRNG (mulberry32): the property runs replay exactly */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('BusinessFormat', () => {
  const invoices = BusinessFormat.from({ pattern: 'INV-{yyyy}{MM}{dd}-{seq:6}', reset: 'day', timeZone: 'Asia/Shanghai', checkDigit: 'luhn' });

  it('formats the issue example and parses it back', () => {
    const id = invoices.format('20261207', '42');
    expect(id).toMatch(/^INV-20261207-000042\d$/);
    expect(id.slice(-1)).toBe(checkDigits('luhn', '20261207000042'));
    expect(invoices.parse(id)).toEqual({ period: '2026-12-07', seq: '42' });
  });

  it('Luhn and MOD 97-10 check digits validate', () => {
    // 79927398713 is the textbook Luhn number; IBAN GB82WEST12345698765432: WEST12345698765432 GB as digits, check 82
    expect(checkDigits('luhn', '7992739871')).toBe('3');
    expect(checkDigits('mod97', '32142829123456987654321611')).toBe('82');
    const mod97 = BusinessFormat.from({ pattern: 'T{seq:8}', checkDigit: 'mod97' });
    const id = mod97.format('', '123');
    expect(BigInt(id.slice(1)) % 97n).toBe(1n);
    expect(mod97.parse(id)).toEqual({ period: null, seq: '123' });
  });

  it('a wrong check digit, a wrong literal, a bad date and sequence 0 are INVALID_ID', () => {
    const good = invoices.format('20261207', '42');
    const wrongCheck = good.slice(0, -1) + String((Number(good.slice(-1)) + 1) % 10);
    for (const id of [wrongCheck, `X${good.slice(1)}`, invoices.format('20261307', '1'), invoices.format('20260230', '1'), invoices.format('20261207', '0'), `${good}0`, '']) {
      expect(() => invoices.parse(id)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }));
    }
  });

  it('the period in the zone: midnight in Shanghai is 16:00 UTC the day before', () => {
    const before = Date.parse('2026-12-06T15:59:59.999Z');
    const after = Date.parse('2026-12-06T16:00:00.000Z');
    expect(invoices.period(before)).toBe('20261206');
    expect(invoices.period(after)).toBe('20261207');
    const monthly = BusinessFormat.from({ pattern: 'M{yyyy}{MM}{seq:4}', reset: 'month', timeZone: 'America/New_York' });
    expect(monthly.period(Date.parse('2027-01-01T04:59:00Z'))).toBe('202612');
    expect(monthly.period(Date.parse('2027-01-01T05:00:00Z'))).toBe('202701');
    const yearly = BusinessFormat.from({ pattern: 'Y{yy}-{seq:5}', reset: 'year' });
    expect(yearly.period(Date.parse('2026-12-31T23:59:59Z'))).toBe('2026');
    expect(yearly.format('2027', '7')).toBe('Y27-00007');
  });

  it('successor crosses month and year ends and leap days', () => {
    expect(invoices.successor('20261231')).toBe('20270101');
    expect(invoices.successor('20280228')).toBe('20280229');
    expect(invoices.successor('20270228')).toBe('20270301');
    expect(BusinessFormat.from({ pattern: '{yyyy}{MM}{seq:3}', reset: 'month' }).successor('202612')).toBe('202701');
    expect(BusinessFormat.from({ pattern: '{yyyy}{seq:3}', reset: 'year' }).successor('2026')).toBe('2027');
  });

  it('a sequence wider than {seq:N} is ID_SPACE_EXHAUSTED for that period, never wider or wrapped', () => {
    const small = BusinessFormat.from({ pattern: 'A{yyyy}{MM}{dd}{seq:2}', reset: 'day' });
    expect(small.format('20261207', '99')).toBe('A2026120799');
    expect(() => small.format('20261207', '100', 'tickets')).toThrow(
      expect.objectContaining({ code: 'ID_SPACE_EXHAUSTED', status: 409, message: expect.stringContaining('period 2026-12-07') }),
    );
    const yy = BusinessFormat.from({ pattern: '{yy}{seq:3}', reset: 'year' });
    expect(() => yy.format('2100', '1')).toThrow(expect.objectContaining({ code: 'ID_SPACE_EXHAUSTED' }));
  });

  it.each([
    [{ pattern: 'A{seq:6}{seq:2}' }, 'needs exactly one {seq:N}'],
    [{ pattern: 'A-{yyyy}' , reset: 'year'}, 'needs exactly one {seq:N}'],
    [{ pattern: '{seq:0}' }, 'width must be from 1 to 18'],
    [{ pattern: '{seq:19}' }, 'width must be from 1 to 18'],
    [{ pattern: '{seq:6}', reset: 'day' }, 'reset "day" needs {yyyy} or {yy}'],
    [{ pattern: '{yyyy}{MM}{seq:6}', reset: 'day' }, 'reset "day" needs {dd}'],
    [{ pattern: '{yyyy}{MM}{dd}{seq:6}', reset: 'month' }, '{dd} with reset "month"'],
    [{ pattern: '{yyyy}{seq:6}' }, '{yyyy} or {yy} with reset "none"'],
    [{ pattern: '{yyyy}{yy}{seq:6}', reset: 'year' }, 'both {yyyy} and {yy}'],
    [{ pattern: '{yyyy}{MM}{MM}{seq:6}', reset: 'month' }, '{MM} more than once'],
    [{ pattern: 'A{foo}{seq:6}' }, 'unknown placeholder {foo}'],
    [{ pattern: 'A{seq:6' }, 'no closing "}"'],
    [{ pattern: 'A}{seq:6}' }, 'no opening "{"'],
    [{ pattern: 'A B{seq:6}' }, 'not allowed in literal text'],
    [{ pattern: 'A"{seq:6}' }, 'not allowed in literal text'],
    [{ pattern: '' }, 'string of 1 to 64'],
    [{ pattern: `${'A'.repeat(60)}{seq:6}` }, 'string of 1 to 64'],
  ])('pattern %j is refused: %s', (input, problem) => {
    const problems = problemsOf(input);
    expect(problems).toContainEqual({ field: 'format.pattern', problem: expect.stringContaining(problem) });
  });

  it('reset, timeZone, checkDigit and unknown fields are named', () => {
    expect(problemsOf({ pattern: '{seq:6}', reset: 'week' })).toContainEqual({ field: 'format.reset', problem: expect.any(String) });
    expect(problemsOf({ pattern: '{seq:6}', timeZone: 'Mars/Olympus' })).toContainEqual({ field: 'format.timeZone', problem: expect.any(String) });
    expect(problemsOf({ pattern: '{seq:6}', checkDigit: 'crc' })).toContainEqual({ field: 'format.checkDigit', problem: expect.any(String) });
    expect(problemsOf({ pattern: '{seq:6}', prefix: 'x' })).toContainEqual({ field: 'format.prefix', problem: expect.stringContaining('unknown field') });
    expect(problemsOf('INV-{seq:6}')).toEqual([{ field: 'format', problem: expect.stringContaining('must be an object') }]);
  });

  it('defaults: reset none, UTC, no check digit', () => {
    expect(BusinessFormat.from({ pattern: 'T-{seq:3}' }).spec).toEqual({ pattern: 'T-{seq:3}', reset: 'none', timeZone: 'UTC', checkDigit: null });
  });

  it('property: parse(format(period, seq)) is (period, seq) for random patterns, periods and sequences', () => {
    const random = prng(30);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
    const literal = () => Array.from({ length: Math.floor(random() * 4) }, () => pick('AZaz09._:/-'.split(''))).join('');
    let checked = 0;
    for (let run = 0; run < 300; run++) {
      const reset = pick(['none', 'day', 'month', 'year'] as const);
      const width = 1 + Math.floor(random() * 18);
      const year = pick(['{yyyy}', '{yy}']);
      const parts = reset === 'none' ? [] : reset === 'year' ? [year] : reset === 'month' ? [year, '{MM}'] : [year, '{MM}', '{dd}'];
      const placed = [...parts, `{seq:${width}}`].sort(() => random() - 0.5);
      const pattern = placed.map((p) => literal() + p).join('') + literal();
      const format = BusinessFormat.from({ pattern, reset, checkDigit: pick([null, 'luhn', 'mod97']) });
      for (let i = 0; i < 20; i++) {
        const ms = Date.UTC(2000, 0, 1) + Math.floor(random() * 99 * 365.2 * 86_400_000);
        const period = format.period(ms);
        const seq = (BigInt(Math.floor(random() * 2 ** 52)) % format.maxSeq) + 1n;
        const id = format.format(period, seq.toString());
        const parsed = format.parse(id);
        expect(parsed.seq).toBe(seq.toString());
        expect(BusinessFormat.periodDigits(parsed)).toBe(period);
        checked++;
      }
    }
    expect(checked).toBe(6000);
  });

  it('fuzz: random patterns and fields are accepted or refused with VALIDATION_FAILED naming a format field, never anything else', () => {
    const random = prng(7);
    const alphabet = ['{', '}', 'seq', ':', '6', '19', '0', 'yyyy', 'yy', 'MM', 'dd', 'A', '-', ' ', '"', '\\', '\u0000', '\u00e9', '{seq:3}', '{yyyy}', '{dd}', '%', '~'];
    let accepted = 0;
    let refused = 0;
    for (let run = 0; run < 5000; run++) {
      const pattern = Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const reset = [undefined, 'none', 'day', 'month', 'year', 'week', 3, null][Math.floor(random() * 8)];
      const timeZone = [undefined, 'UTC', 'Asia/Shanghai', 'Bad/Zone', '', 42][Math.floor(random() * 6)];
      const checkDigit = [undefined, null, 'luhn', 'mod97', 'x'][Math.floor(random() * 5)];
      try {
        const format = BusinessFormat.from({ pattern, reset, timeZone, checkDigit });
        accepted++;
        // an accepted format formats and parses back
        const period = format.period(Date.UTC(2026, 11, 7));
        expect(format.parse(format.format(period, '1')).seq).toBe('1');
      } catch (e) {
        refused++;
        expect(e).toBeInstanceOf(IdError);
        expect((e as IdError).code).toBe('VALIDATION_FAILED');
        const details = (e as IdError).details as { field: string; problem: string }[];
        expect(details.length).toBeGreaterThan(0);
        for (const d of details) expect(d.field).toMatch(/^format(\.[A-Za-z]+)?$/);
      }
    }
    expect(accepted).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(1000);
  });

  it('a period key is the key with ~ and the period, the key itself without reset', () => {
    expect(periodKey('invoices', '20261207')).toBe('invoices~20261207');
    expect(periodKey('invoices', '')).toBe('invoices');
  });
});
