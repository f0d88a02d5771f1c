import { FakeClock, IdError } from '@app/core';
import { BusinessFormat } from './business-format';
import { FormattedKey, PeriodKeyStore } from './business-numbers';

/** a fake store and source: period keys as a set, each key's numbers a counter */
function setup(spec: Record<string, unknown>) {
  const clock = new FakeClock(Date.parse('2026-12-07T23:59:00Z'));
  const keys = new Set<string>();
  const counters = new Map<string, number>();
  const forgotten: string[] = [];
  const warnings: string[] = [];
  const steps: string[] = [];
  const store: PeriodKeyStore = {
    createPeriodKey: async (key) => {
      steps.push(`create ${key}`);
      keys.add(key);
    },
    newestPeriodKey: async (base) => [...keys].filter((k) => k.startsWith(`${base}~`)).sort().pop() ?? null,
  };
  const source = {
    take: (key: string, count: number) => {
      // a period key must exist in the table (the key itself, reset none, always does)
      if (key.includes('~') && !keys.has(key)) throw new IdError('UNKNOWN_KEY', `unknown key "${key}"`);
      const from = counters.get(key) ?? 1;
      counters.set(key, from + count);
      return Array.from({ length: count }, (_, i) => String(from + i));
    },
    forget: (key: string) => void forgotten.push(key),
    markLeft: async (key: string) => void steps.push(`mark ${key}`),
    made: (key: string) => void steps.push(`made ${key}`),
  };
  const format = BusinessFormat.from(spec);
  const formatted = new FormattedKey('inv', format, JSON.stringify(format.spec), 100, { clock, store, source, warn: (m) => warnings.push(m) });
  return { clock, keys, formatted, forgotten, warnings, steps, own: (n: number) => source.take('inv', n) };
}

describe('FormattedKey', () => {
  const daily = { pattern: 'I{yyyy}{MM}{dd}-{seq:4}', reset: 'day' };

  it("makes the period's key on first use and numbers each period from 1", async () => {
    const { clock, keys, formatted, own } = setup(daily);
    expect(await formatted.next(2, own)).toEqual(['I20261207-0001', 'I20261207-0002']);
    clock.advance(60_000);
    expect(await formatted.next(1, own)).toEqual(['I20261208-0001']);
    expect([...keys]).toEqual(['inv~20261207', 'inv~20261208']);
  });

  it('a clock stepped back keeps the newest period; the old period is released on the next watch', async () => {
    const { clock, formatted, forgotten, own } = setup(daily);
    await formatted.next(1, own);
    clock.advance(120_000);
    await formatted.next(1, own);
    clock.advance(-3_600_000);
    expect(await formatted.next(1, own)).toEqual(['I20261208-0002']);
    await formatted.watch();
    expect(forgotten).toEqual(['inv~20261207']);
  });

  it('adopts the next period once another instance made its key, near the end of its own; not one further ahead', async () => {
    const { clock, keys, formatted, warnings, own } = setup(daily);
    clock.set(Date.parse('2026-12-07T12:00:00Z'));
    await formatted.next(1, own);
    keys.add('inv~20261208');
    await formatted.watch();
    // hours from the end of its own period: no read, no adoption
    expect(await formatted.next(1, own)).toEqual(['I20261207-0002']);
    clock.set(Date.parse('2026-12-07T23:58:00Z'));
    await formatted.watch();
    expect(await formatted.next(1, own)).toEqual(['I20261208-0001']);
    keys.add('inv~20261231');
    clock.set(Date.parse('2026-12-08T23:55:00Z'));
    await formatted.watch();
    expect(await formatted.next(1, own)).toEqual(['I20261208-0002']);
    expect(warnings).toEqual([expect.stringContaining('more than one period ahead')]);
  });

  it('a process that starts with a slow clock after another began the next period issues in that period from its first number', async () => {
    const { keys, formatted, own } = setup(daily);
    keys.add('inv~20261207');
    keys.add('inv~20261208');
    expect(await formatted.next(1, own)).toEqual(['I20261208-0001']);
  });

  it('a batch that needs a wider sequence fails whole (ID_SPACE_EXHAUSTED)', () => {
    const { formatted, own } = setup({ pattern: 'T{seq:1}' });
    expect(formatted.next(9, own)).toHaveLength(9);
    expect(() => formatted.next(1, own)).toThrow(expect.objectContaining({ code: 'ID_SPACE_EXHAUSTED' }));
  });

  it('a period key lost with the database is made again once, after the mark this instance left is in', async () => {
    const t = setup(daily);
    expect(await t.formatted.next(2, t.own)).toEqual(['I20261207-0001', 'I20261207-0002']);
    t.keys.delete('inv~20261207'); // a restore from a copy older than the period key
    t.steps.length = 0;
    expect(await t.formatted.next(1, t.own)).toEqual(['I20261207-0003']);
    expect(t.steps).toEqual(['mark inv~20261207', 'create inv~20261207', 'made inv~20261207']);
    // made again only once per request: a key that cannot be made is the request's error
    const failing = setup(daily);
    await failing.formatted.next(1, failing.own);
    failing.keys.delete('inv~20261207');
    const store = (failing.formatted as unknown as { deps: { store: PeriodKeyStore } }).deps.store;
    store.createPeriodKey = async () => undefined; // "made", yet still unknown
    await expect(failing.formatted.next(1, failing.own)).rejects.toMatchObject({ code: 'UNKNOWN_KEY' });
  });
});
