import { decimal63, toHalves } from './decimal';
import { MAX_ID, SnowflakeLayout, SnowflakeLayoutError } from './snowflake-layout';

const EPOCH_2025 = Date.parse('2025-01-01T00:00:00Z');

describe('SnowflakeLayout', () => {
  it('parses the default layout and reports its last valid date', () => {
    const layout = SnowflakeLayout.parse('41,10,12', '2025-01-01T00:00:00Z');
    expect(layout).toMatchObject({ timeBits: 41, workerBits: 10, sequenceBits: 12, epochMs: EPOCH_2025, maxWorkerId: 1023, maxSequence: 4095 });
    expect(layout.lastValidMs).toBe(EPOCH_2025 + 2 ** 41 - 1);
    expect(new Date(layout.lastValidMs).toISOString()).toBe('2094-09-07T15:47:35.551Z');
    expect(SnowflakeLayout.parse(' 41 , 10 , 12 ', String(EPOCH_2025)).epochMs).toBe(EPOCH_2025);
  });

  it.each([
    ['41,10,11', /sum to 63 \(got 41\+10\+11 = 62\)/],
    ['41,10,13', /sum to 63/],
    ['30,21,12', /sum to 63|time bits/],
    ['34,17,12', /time bits must be from 35 to 52 \(got 34\)/],
    ['54,0,9', /time bits must be from 35 to 52/],
    ['53,0,10', /time bits must be from 35 to 52/],
    ['45,18,0', /sequence bits must be from 1 to 22/],
    ['35,1,27', /sequence bits must be from 1 to 22/],
    ['37,21,5', /worker bits must be from 0 to 20/],
    ['41,10', /three widths/],
    ['41;10;12', /three widths/],
    ['a,b,c', /three widths/],
  ])('refuses SNOWFLAKE_BITS=%s', (bits, message) => {
    expect(() => SnowflakeLayout.parse(bits, EPOCH_2025)).toThrow(SnowflakeLayoutError);
    expect(() => SnowflakeLayout.parse(bits, EPOCH_2025)).toThrow(message);
  });

  it('refuses a bad epoch', () => {
    expect(() => SnowflakeLayout.parse('41,10,12', 'yesterday')).toThrow(/SNOWFLAKE_EPOCH/);
  });

  it('refuses to start past its end of life, or before its epoch', () => {
    const layout = SnowflakeLayout.parse('35,16,12', '2025-01-01T00:00:00Z'); // about 1.09 years
    expect(() => layout.assertUsableAt(EPOCH_2025 + 1000)).not.toThrow();
    expect(() => layout.assertUsableAt(layout.lastValidMs)).not.toThrow();
    expect(() => layout.assertUsableAt(layout.lastValidMs + 1)).toThrow(/ran out on 2026-02-02/);
    expect(() => layout.assertUsableAt(EPOCH_2025 - 1)).toThrow(/in the future/);
    expect(layout.expiredAt(layout.lastValidMs + 1)).toBe(true);
    expect(layout.yearsLeft(EPOCH_2025)).toBeCloseTo(2 ** 35 / (365.25 * 86400000), 5);
  });

  it('decode(compose(x)) == x, and the halves equal the bigint', () => {
    for (const bits of ['41,10,12', '39,12,12', '35,6,22', '52,0,11', '43,0,20']) {
      const layout = SnowflakeLayout.parse(bits, EPOCH_2025);
      for (let i = 0; i < 20_000; i++) {
        const t = EPOCH_2025 + Math.floor(Math.random() * (layout.maxTimeField + 1));
        const w = Math.floor(Math.random() * (layout.maxWorkerId + 1));
        const s = Math.floor(Math.random() * (layout.maxSequence + 1));
        const id = layout.compose(t, w, s);
        expect(id >= 0n && id <= MAX_ID).toBe(true);
        const d = layout.decode(id);
        if (d.timestampMs !== t || d.workerId !== w || d.sequence !== s) throw new Error(`${bits}: ${t},${w},${s} decoded as ${JSON.stringify(d)}`);
        const { hi, lo } = layout.halves(t, w, s);
        if (BigInt(hi) * 2n ** 32n + BigInt(lo) !== id) throw new Error(`${bits}: halves of ${id} wrong`);
      }
      // the extremes
      expect(layout.compose(layout.lastValidMs, layout.maxWorkerId, layout.maxSequence)).toBe(MAX_ID);
      expect(layout.compose(EPOCH_2025, 0, 0)).toBe(0n);
      expect(layout.decode(layout.decode(MAX_ID) && MAX_ID)).toEqual({ timestampMs: layout.lastValidMs, workerId: layout.maxWorkerId, sequence: layout.maxSequence });
    }
  });

  it('refuses fields outside the layout and ids outside 63 bits', () => {
    const layout = SnowflakeLayout.parse('41,10,12', EPOCH_2025);
    expect(() => layout.compose(EPOCH_2025 - 1, 0, 0)).toThrow(RangeError);
    expect(() => layout.compose(EPOCH_2025, 1024, 0)).toThrow(RangeError);
    expect(() => layout.compose(EPOCH_2025, 0, 4096)).toThrow(RangeError);
    expect(() => layout.decode(MAX_ID + 1n)).toThrow(RangeError);
    expect(() => layout.decode(-1n)).toThrow(RangeError);
  });
});

describe('decimal63 (exact decimal without BigInt)', () => {
  const viaBigInt = (hi: number, lo: number) => ((BigInt(hi) << 32n) + BigInt(lo)).toString();

  it('equals BigInt(x).toString() at the edges', () => {
    const edges = [0n, 1n, 999_999n, 1_000_000n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 10n ** 18n - 1n, 10n ** 18n, MAX_ID - 1n, MAX_ID];
    for (const x of edges) {
      const { hi, lo } = toHalves(x);
      expect(decimal63(hi, lo)).toBe(x.toString());
    }
    expect(decimal63(2 ** 31 - 1, 2 ** 32 - 1)).toBe('9223372036854775807');
  });

  it('equals BigInt(x).toString() on 3,000,000 random values', () => {
    let mismatches = 0;
    let first = '';
    for (let i = 0; i < 3_000_000; i++) {
      // every magnitude: a random bit length, then random bits
      const bits = 1 + (i % 63);
      const hi = bits > 32 ? Math.floor(Math.random() * 2 ** (bits - 32)) : 0;
      const lo = Math.floor(Math.random() * 2 ** Math.min(32, bits));
      const got = decimal63(hi, lo);
      if (got !== viaBigInt(hi, lo)) {
        mismatches++;
        first ||= `${hi},${lo}: ${got} != ${viaBigInt(hi, lo)}`;
      }
    }
    expect(first).toBe('');
    expect(mismatches).toBe(0);
  });
});
