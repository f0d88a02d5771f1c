import { GuardedSocket, WriteStallGuard } from './write-stall-guard';

/** a socket whose queue and flushed bytes the test moves by hand */
class FakeSocket implements GuardedSocket {
  queued = 0;
  flushed = 0;
  destroyed = false;
  private onClose: (() => void) | undefined;

  get writableLength(): number {
    return this.queued;
  }

  get bytesWritten(): number {
    return this.flushed + this.queued;
  }

  destroy(): void {
    this.destroyed = true;
    this.onClose?.();
  }

  once(_event: 'close', listener: () => void): this {
    this.onClose = listener;
    return this;
  }

  close(): void {
    this.onClose?.();
  }
}

describe('WriteStallGuard', () => {
  it('destroys a connection whose output has not moved for the timeout, and only that one', () => {
    const guard = new WriteStallGuard(1000);
    const stuck = new FakeSocket();
    const idle = new FakeSocket();
    const slow = new FakeSocket();
    for (const s of [stuck, idle, slow]) guard.track(s);
    stuck.queued = 5000;
    slow.queued = 5000;
    for (let now = 0; now < 1000; now += 250) {
      expect(guard.sweep(now)).toBe(0);
      slow.flushed += 100; // a slow reader still takes bytes: not a stall
    }
    expect(guard.sweep(1000)).toBe(1);
    expect([stuck.destroyed, idle.destroyed, slow.destroyed]).toEqual([true, false, false]);
    expect(guard.tracked).toBe(2);
  });

  it('starts counting again once the queue drains, and forgets closed connections', () => {
    const guard = new WriteStallGuard(1000);
    const s = new FakeSocket();
    guard.track(s);
    s.queued = 10;
    guard.sweep(0);
    s.queued = 0; // drained
    guard.sweep(900);
    s.queued = 10; // a new answer stuck at 1,800: its stall begins here, not at 0
    guard.sweep(1800);
    expect(guard.sweep(2700)).toBe(0);
    expect(guard.sweep(2800)).toBe(1);
    const other = new FakeSocket();
    guard.track(other);
    other.close();
    expect(guard.tracked).toBe(0);
  });

  it('sweeps a quarter of the timeout apart, between 50 ms and 1 s', () => {
    expect([100, 2000, 30_000].map((t) => new WriteStallGuard(t).intervalMs)).toEqual([50, 500, 1000]);
  });
});
