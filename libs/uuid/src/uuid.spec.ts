import { FakeClock } from '@app/core';
import { UuidV4 } from './uuid-v4';
import { UuidV7 } from './uuid-v7';
import { UuidV4Generator, UuidV7Generator } from './uuid.generators';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('UuidV4', () => {
  it('has version 4 and variant 10 on every id', () => {
    const v4 = new UuidV4();
    for (let i = 0; i < 20_000; i++) {
      const id = v4.next();
      expect(id).toMatch(FORMAT);
      expect(id[14]).toBe('4');
      expect('89ab').toContain(id[19]);
    }
  });

  it('gives 1,000,000 distinct ids', () => {
    const ids = new UuidV4Generator().next('k', 1_000_000);
    expect(new Set(ids).size).toBe(1_000_000);
  });
});

describe('UuidV7', () => {
  it('has version 7, variant 10 and the clock ms in the first 48 bits', () => {
    const clock = new FakeClock(1_767_225_600_123);
    const id = new UuidV7(clock).next();
    expect(id).toMatch(FORMAT);
    expect(id[14]).toBe('7');
    expect('89ab').toContain(id[19]);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(1_767_225_600_123);
  });

  it('gives 1,000,000 distinct, strictly increasing ids in one process', () => {
    const ids = new UuidV7Generator().next('k', 1_000_000);
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i] > ids[i - 1])) throw new Error(`not increasing at ${i}: ${ids[i - 1]} then ${ids[i]}`);
    }
    expect(new Set(ids).size).toBe(1_000_000);
  });

  it('stays strictly increasing when the clock steps back, and catches up after', () => {
    const clock = new FakeClock(1_767_225_600_000);
    const v7 = new UuidV7(clock);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) ids.push(v7.next());
    clock.advance(-10_000); // a 10 s step back
    for (let i = 0; i < 1000; i++) ids.push(v7.next());
    clock.advance(20_000);
    const after = v7.next();
    ids.push(after);
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(parseInt(after.slice(0, 8) + after.slice(9, 13), 16)).toBe(1_767_225_610_000);
  });

  it('moves to the next ms when the counter of a stalled ms runs out', () => {
    const clock = new FakeClock(1_767_225_600_000);
    const v7 = new UuidV7(clock);
    const first = v7.next();
    // drive the counter to its end without 2^41 calls
    (v7 as unknown as { counter: number }).counter = 2 ** 42 - 1;
    const next = v7.next();
    expect(next > first).toBe(true);
    expect(parseInt(next.slice(0, 8) + next.slice(9, 13), 16)).toBe(1_767_225_600_001);
  });
});
