import { FakeClock } from './clock';
import { IdempotencyRecord, IdempotencyStore, IdempotentIssuer } from './idempotency';

/** the store's contract in memory: each method one atomic step, as each is one statement */
class MemoryStore implements IdempotencyStore {
  readonly rows = new Map<string, IdempotencyRecord>();
  async claim(key: string, fingerprint: string, owner: string, nowMs: number) {
    if (this.rows.has(key)) return false;
    this.rows.set(key, { fingerprint, owner, answer: null, createdAt: nowMs });
    return true;
  }
  async read(key: string) {
    const row = this.rows.get(key);
    return row ? { ...row } : null;
  }
  async complete(key: string, owner: string, answer: string) {
    const row = this.rows.get(key);
    if (!row || row.owner !== owner || row.answer !== null) return false;
    row.answer = answer;
    return true;
  }
  async release(key: string, owner: string) {
    if (this.rows.get(key)?.owner === owner) this.rows.delete(key);
  }
  async takeOver(key: string, previousOwner: string, owner: string, fingerprint: string, nowMs: number) {
    const row = this.rows.get(key);
    if (!row || row.owner !== previousOwner) return false;
    this.rows.set(key, { fingerprint, owner, answer: null, createdAt: nowMs });
    return true;
  }
  async purge(beforeMs: number, limit: number) {
    let n = 0;
    for (const [key, row] of this.rows) if (row.createdAt < beforeMs && n < limit) this.rows.delete(key) && n++;
    return n;
  }
}

function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore();
  const issuer = new IdempotentIssuer(store, {
    ttlMs: 60_000,
    waitMs: 1000,
    pendingStaleMs: 5000,
    clock,
    sleep: async (ms) => clock.advance(ms),
  });
  let n = 0;
  const produce = () => `{"ids":["${++n}"]}`;
  return { clock, store, issuer, produce, produced: () => n };
}

describe('IdempotentIssuer', () => {
  it('the same key and fingerprint answers the first answer again; another fingerprint is 422', async () => {
    const { issuer, produce, produced } = setup();
    expect(await issuer.issue('k', 'fp', produce)).toEqual({ body: '{"ids":["1"]}', replayed: false });
    expect(await issuer.issue('k', 'fp', produce)).toEqual({ body: '{"ids":["1"]}', replayed: true });
    await expect(issuer.issue('k', 'other', produce)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    expect(produced()).toBe(1);
  });

  it('a duplicate waits for the first answer; past the wait it is 409', async () => {
    const { issuer, store } = setup();
    let finish!: (body: string) => void;
    const first = issuer.issue('k', 'fp', () => new Promise<string>((resolve) => (finish = resolve)));
    await Promise.resolve();
    await expect(issuer.issue('k', 'fp', () => 'never')).rejects.toMatchObject({ code: 'IDEMPOTENCY_IN_PROGRESS', status: 409 });
    finish('A');
    expect(await first).toEqual({ body: 'A', replayed: false });
    expect(store.rows.get('k')!.answer).toBe('A');
  });

  it('a failed request releases its key; an abandoned one is taken over and the slow first answers 409, not its ids', async () => {
    const { issuer, clock, produce } = setup();
    await expect(issuer.issue('k', 'fp', () => Promise.reject(new Error('no ids')))).rejects.toThrow('no ids');
    expect((await issuer.issue('k', 'fp', produce)).body).toBe('{"ids":["1"]}');
    let finishSlow!: (body: string) => void;
    const slow = issuer.issue('s', 'fp', () => new Promise<string>((resolve) => (finishSlow = resolve)));
    await Promise.resolve();
    clock.advance(6000);
    const retry = await issuer.issue('s', 'fp', produce);
    expect(retry).toEqual({ body: '{"ids":["2"]}', replayed: false });
    finishSlow('late');
    await expect(slow).rejects.toMatchObject({ code: 'IDEMPOTENCY_IN_PROGRESS' });
    expect(await issuer.issue('s', 'fp', produce)).toEqual({ body: '{"ids":["2"]}', replayed: true });
  });

  it('past the TTL a key is new again, and purge removes expired rows in batches', async () => {
    const { issuer, clock, store, produce } = setup();
    for (let i = 0; i < 25; i++) await issuer.issue(`k${i}`, 'fp', produce);
    clock.advance(60_001);
    expect((await issuer.issue('k0', 'other', produce)).replayed).toBe(false);
    expect(await issuer.purgeExpired(10, 10)).toBe(24);
    expect([...store.rows.keys()]).toEqual(['k0']);
  });
});
