/**
 * Virtual time for the simulator: while installed, setTimeout, setInterval, setImmediate (and
 * their clears), Date.now and performance.now run on a queue this class owns, so the real
 * classes' timers (waiter deadlines, retry back-off, the poll) fire in virtual milliseconds, in a
 * fixed order, and a run of minutes takes milliseconds. Promises stay real: after each timer a
 * few microtask turns let their continuations run before the next timer fires.
 */

interface Task {
  at: number;
  seq: number;
  fn: () => void;
  /** repeat period (setInterval) */
  every?: number;
  cancelled: boolean;
}

/** What Node's timer functions return, enough for the code under test (unref, ref, refresh). */
class VirtualTimer {
  constructor(
    readonly task: Task,
    private readonly time: VirtualTime,
  ) {}
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
  refresh(): this {
    this.time.reschedule(this.task);
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.task.seq;
  }
}

type Globals = Pick<typeof globalThis, 'setTimeout' | 'clearTimeout' | 'setInterval' | 'clearInterval' | 'setImmediate' | 'clearImmediate'> & {
  dateNow: () => number;
};

export class VirtualTime {
  /** virtual milliseconds since the epoch */
  now: number;
  private seq = 0;
  private readonly heap: Task[] = [];
  private saved?: Globals;
  private readonly settle: () => Promise<void>;
  /** an exception thrown by a timer callback: a crash of the code under test */
  readonly crashes: unknown[] = [];

  constructor(private readonly start = 1_767_225_600_000) {
    this.now = start;
    // Promise continuations of the code under test run between timers: a few microtask turns
    // settle the usual chains; deeper ones finish at the next timer (a few virtual ms later, like
    // a busy event loop), still in a fixed order.
    this.settle = async () => {
      for (let i = 0; i < 12; i++) await Promise.resolve();
    };
  }

  schedule(delayMs: number, fn: () => void, every?: number): VirtualTimer {
    const task: Task = { at: this.now + Math.max(0, Math.floor(delayMs || 0)), seq: ++this.seq, fn, every, cancelled: false };
    this.push(task);
    return new VirtualTimer(task, this);
  }

  reschedule(task: Task): void {
    task.cancelled = true;
    const again: Task = { ...task, cancelled: false, seq: ++this.seq, at: this.now + (task.every ?? 0) };
    this.push(again);
  }

  install(): void {
    if (this.saved) return;
    this.saved = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      setInterval: globalThis.setInterval,
      clearInterval: globalThis.clearInterval,
      setImmediate: globalThis.setImmediate,
      clearImmediate: globalThis.clearImmediate,
      dateNow: Date.now,
    };
    const cancel = (handle: unknown) => {
      if (handle instanceof VirtualTimer) handle.task.cancelled = true;
    };
    const g = globalThis as Record<string, unknown>;
    g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => this.schedule(ms ?? 0, () => fn(...args));
    g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      this.schedule(Math.max(1, ms ?? 1), () => fn(...args), Math.max(1, ms ?? 1));
    g.setImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => this.schedule(0, () => fn(...args));
    g.clearTimeout = cancel;
    g.clearInterval = cancel;
    g.clearImmediate = cancel;
    Date.now = () => this.now;
    // elapsed time too (back-off, start waits): an own property over the prototype's method
    Object.defineProperty(performance, 'now', { value: () => this.now - this.start, configurable: true, writable: true });
  }

  uninstall(): void {
    const s = this.saved;
    if (!s) return;
    const g = globalThis as Record<string, unknown>;
    g.setTimeout = s.setTimeout;
    g.clearTimeout = s.clearTimeout;
    g.setInterval = s.setInterval;
    g.clearInterval = s.clearInterval;
    g.setImmediate = s.setImmediate;
    g.clearImmediate = s.clearImmediate;
    Date.now = s.dateNow;
    delete (performance as unknown as { now?: unknown }).now;
    this.saved = undefined;
  }

  /** fires every task due up to `until` (virtual ms), settling promises after each */
  async runUntil(until: number): Promise<void> {
    await this.settle();
    for (;;) {
      const task = this.peek();
      if (task === undefined || task.at > until) break;
      this.pop();
      if (task.cancelled) continue;
      this.now = task.at;
      if (task.every !== undefined) this.push({ ...task, at: task.at + task.every, seq: ++this.seq });
      try {
        task.fn();
      } catch (e) {
        this.crashes.push(e);
      }
      await this.settle();
    }
    if (until > this.now) this.now = until;
  }

  /** drops every pending task (end of a run) */
  clear(): void {
    this.heap.length = 0;
  }

  private push(task: Task): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private peek(): Task | undefined {
    return this.heap[0];
  }

  private pop(): Task | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A small seeded PRNG (mulberry32): one per run, drawn in a fixed order, so a seed replays exactly. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** an integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}
