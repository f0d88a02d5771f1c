import { FakeClock, IdError } from '@app/core';
import { SegmentGenerator } from './segment.generator';
import { NewSegmentKey, SegmentKeyRow, SegmentStore, SkipTarget } from './segment-store';

/** leaf_alloc in memory, counting queries. */
class MemoryStore implements SegmentStore {
  rows = new Map<string, SegmentKeyRow>();
  finds = 0;
  down = false;

  add(key: string, maxId: bigint, step: number): void {
    this.rows.set(key, { key, maxId: maxId.toString(), step, description: null, updatedAt: '', public: false, skipSeq: 0 });
  }
  private check(): void {
    if (this.down) throw new IdError('DATABASE_UNAVAILABLE', 'down');
  }
  async fetch(key: string, step: number): Promise<bigint> {
    this.check();
    const row = this.rows.get(key);
    if (!row) throw new IdError('UNKNOWN_KEY', key);
    row.maxId = (BigInt(row.maxId) + BigInt(step)).toString();
    return BigInt(row.maxId);
  }
  async find(key: string): Promise<SegmentKeyRow | null> {
    this.finds++;
    this.check();
    const row = this.rows.get(key);
    return row ? { ...row } : null;
  }
  async findMany(keys: string[]): Promise<SegmentKeyRow[]> {
    this.check();
    return keys.flatMap((k) => (this.rows.has(k) ? [{ ...this.rows.get(k)! }] : []));
  }
  async list(): Promise<SegmentKeyRow[]> {
    return [...this.rows.values()];
  }
  async create(row: NewSegmentKey): Promise<SegmentKeyRow> {
    this.add(row.key, row.startId, row.step);
    return this.rows.get(row.key)!;
  }
  async update(): Promise<SegmentKeyRow | null> {
    return null;
  }
  async skip(key: string, target: SkipTarget): Promise<SegmentKeyRow | null> {
    const row = this.rows.get(key)!;
    row.maxId = ('to' in target ? target.to : BigInt(row.maxId) + target.by).toString();
    row.skipSeq++;
    return { ...row };
  }
}

const log = { error: jest.fn(), warn: jest.fn(), info: jest.fn() };
const settle = () => new Promise((r) => setImmediate(r));

function generator(store: SegmentStore, clock = new FakeClock(), haltPollMs = 20) {
  return new SegmentGenerator(store, { preload: 0.1, waitMs: 500, stepMax: 1000, dynamicStep: false, clock, log, haltPollMs });
}

describe('SegmentGenerator', () => {
  it('loads a key on first use, once for many concurrent callers', async () => {
    const store = new MemoryStore();
    store.add('orders', 1n, 100);
    const g = generator(store);
    const all = await Promise.all(Array.from({ length: 50 }, () => g.next('orders', 2)));
    expect(store.finds).toBe(1);
    expect(new Set(all.flat()).size).toBe(100);
  });

  it('remembers a missing key for a while: a flood costs one query per key per TTL', async () => {
    const store = new MemoryStore();
    const clock = new FakeClock();
    const g = generator(store, clock);
    await expect(g.next('nope', 1)).rejects.toMatchObject({ code: 'UNKNOWN_KEY', status: 404 });
    for (let i = 0; i < 1000; i++) expect(() => g.next('nope', 1)).toThrow(expect.objectContaining({ code: 'UNKNOWN_KEY' }));
    expect(store.finds).toBe(1);
    clock.advance(6000);
    store.add('nope', 1n, 10); // created meanwhile
    expect(await g.next('nope', 1)).toEqual(['1']);
    expect(store.finds).toBe(2);
  });

  it('answers DATABASE_UNAVAILABLE for a new key while the database is down, and reports not ready with nothing buffered', async () => {
    const store = new MemoryStore();
    store.add('a', 1n, 10);
    const g = generator(store);
    store.down = true;
    await expect(g.next('a', 1)).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    expect(g.health().detail.database).toMatchObject({ status: 'down' });
  });

  it('a halted key resumes when another instance records an admin skip', async () => {
    const store = new MemoryStore();
    store.add('k', 9000n, 1000);
    const g = generator(store);
    await g.next('k', 1); // [9000, 10000)
    store.rows.get('k')!.maxId = '9500'; // rolled back
    g.next('k', 100); // preload fetches [9500, 10500): refused
    await settle();
    await settle();
    expect(() => g.next('k', 1)).toThrow(/rolled back/);
    expect(g.health()).toMatchObject({ ready: true, detail: { keys: { k: { status: 'down' } } } });
    expect(log.error).toHaveBeenCalledWith(expect.stringContaining('ROLLBACK on key "k"'));
    await new Promise((r) => setTimeout(r, 60));
    expect(() => g.next('k', 1)).toThrow(/rolled back/); // no skip yet: still halted
    await store.skip('k', { to: 50_000n }); // another instance's admin skip
    await new Promise((r) => setTimeout(r, 80));
    expect(await g.next('k', 1)).toEqual(['50000']);
    g.close();
  });
});
