import { IdError, isIdError } from '@app/core';
import { FETCH_BATCH, FETCH_BATCHES_IN_FLIGHT, FetchBatcher } from './fetch-batch';
import { FetchOutcome, FetchRequest } from './segment-store';

const settle = () => new Promise((r) => setImmediate(r));

/** a store's fetchMany over a map of max_ids, answers held until released */
function fakeStore(keys: string[]) {
  const maxIds = new Map(keys.map((k) => [k, 1n]));
  const sent: FetchRequest[][] = [];
  const held: (() => void)[] = [];
  let failNext: unknown = null;
  const send = (requests: FetchRequest[]): Promise<FetchOutcome[]> => {
    sent.push(requests);
    return new Promise((resolve, reject) => {
      held.push(() => {
        if (failNext !== null) {
          const e = failNext;
          failNext = null;
          reject(e);
          return;
        }
        resolve(
          requests.map(({ key, step }) => {
            const m = maxIds.get(key);
            if (m === undefined) return new IdError('UNKNOWN_KEY', `unknown key "${key}"`);
            maxIds.set(key, m + BigInt(step));
            return m + BigInt(step);
          }),
        );
      });
    });
  };
  const releaseAll = async () => {
    // a batch's answer lets the next batch leave on a later turn: two turns before looking again
    do {
      held.splice(0).forEach((r) => r());
      await settle();
      await settle();
    } while (held.length > 0);
  };
  return { send, sent, releaseAll, failWith: (e: unknown) => (failNext = e), maxIds };
}

describe('FetchBatcher (first fetches of many keys)', () => {
  it('fetches asked for in one turn go as one batch; each key gets its own range', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    const store = fakeStore(keys);
    const batcher = new FetchBatcher(store.send);
    const answers = keys.map((k, i) => batcher.fetch(k, 10 + i));
    await settle();
    expect(store.sent.length).toBe(1);
    expect(store.sent[0].map((r) => r.key)).toEqual(keys);
    await store.releaseAll();
    expect(await Promise.all(answers)).toEqual(keys.map((_, i) => 1n + BigInt(10 + i)));
  });

  it('at most FETCH_BATCH keys a statement and FETCH_BATCHES_IN_FLIGHT statements out; the rest follow', async () => {
    const n = FETCH_BATCH * (FETCH_BATCHES_IN_FLIGHT + 1) + 7;
    const keys = Array.from({ length: n }, (_, i) => `k${i}`);
    const store = fakeStore(keys);
    const batcher = new FetchBatcher(store.send);
    const answers = keys.map((k) => batcher.fetch(k, 5));
    await settle();
    expect(store.sent.length).toBe(FETCH_BATCHES_IN_FLIGHT);
    expect(store.sent.every((b) => b.length === FETCH_BATCH)).toBe(true);
    await store.releaseAll();
    expect(store.sent.map((b) => b.length).reduce((a, b) => a + b, 0)).toBe(n);
    const got = await Promise.all(answers);
    expect(got.every((m) => m === 6n)).toBe(true);
  });

  it('an unknown key is refused alone; a batch that fails fails every key in it with the same error', async () => {
    const store = fakeStore(['a', 'b']);
    const batcher = new FetchBatcher(store.send);
    const first = [batcher.fetch('a', 10), batcher.fetch('nope', 10), batcher.fetch('b', 10)].map((p) => p.then((v) => v, (e: unknown) => e));
    await settle();
    await store.releaseAll();
    const [a, nope, b] = await Promise.all(first);
    expect(a).toBe(11n);
    expect(b).toBe(11n);
    expect(isIdError(nope) && nope.code).toBe('UNKNOWN_KEY');

    const down = new IdError('DATABASE_UNAVAILABLE', 'database unavailable: answer lost');
    store.failWith(down);
    const second = [batcher.fetch('a', 10), batcher.fetch('b', 10)].map((p) => p.then((v) => v, (e: unknown) => e));
    await settle();
    await store.releaseAll();
    expect(await Promise.all(second)).toEqual([down, down]);
  });

  it('a key asked for twice before its batch left goes once per batch', async () => {
    const store = fakeStore(['a', 'b']);
    const batcher = new FetchBatcher(store.send);
    const answers = [batcher.fetch('a', 10), batcher.fetch('b', 10), batcher.fetch('a', 10)];
    await settle();
    expect(store.sent[0].map((r) => r.key)).toEqual(['a', 'b']);
    await store.releaseAll();
    expect(store.sent.map((b) => b.map((r) => r.key))).toEqual([['a', 'b'], ['a']]);
    expect(await Promise.all(answers)).toEqual([11n, 11n, 21n]);
  });
});
