import { connect, Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * The bench's load generator, run as its own process (pinned to a CPU with taskset by the
 * caller) so its stalls are its own and measured: the loop lag it reports is how late its own
 * event loop ran while it was sending.
 *
 * open: a fixed request rate. Request i is due at start + i/rate; it is sent at once on an idle
 *   keep-alive connection, or queued until one frees up, and its latency counts from the time it
 *   was due, so a server that stalls is not hidden by a generator that waits for it.
 * closed: every connection sends its next request when the previous answer arrives.
 *
 * Usage: node load-client.js URL[,URL...] open|closed RATE SECONDS CONNECTIONS WARMUP_SECONDS -> one
 * JSON line on stdout, a list of results in the order of the URLs (several take turns: see run).
 * Bounded: it stops sending at the end and gives up on answers 2 s later.
 */
export interface LoadResult {
  mode: 'open' | 'closed';
  /** requests per second asked for (open loop) */
  rate: number;
  /** answers per second received within the measured window */
  achieved: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** answers that were not 2xx, and connection errors */
  non2xx: number;
  errors: number;
  /** requests due but never answered by the end (open loop) */
  unanswered: number;
  /** the generator's own event-loop delay while measuring, ms */
  loopLagP99: number;
  loopLagMax: number;
}

interface Pending {
  due: number;
  measured: boolean;
}

class Connection {
  private buffer: Buffer = Buffer.alloc(0);
  private inFlight: Pending | undefined;
  private socket!: Socket;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
    private readonly onAnswer: (c: Connection, p: Pending, status: number) => void,
    private readonly onError: (c: Connection, p: Pending | undefined) => void,
    private readonly onReady: (c: Connection) => void,
  ) {
    this.open();
  }

  get idle(): boolean {
    return this.inFlight === undefined && this.socket.readyState === 'open';
  }

  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  send(p: Pending): void {
    this.inFlight = p;
    this.socket.write(this.request);
  }

  close(): void {
    this.socket.destroy();
  }

  private open(): void {
    this.buffer = Buffer.alloc(0);
    this.socket = connect({ host: this.host, port: this.port, noDelay: true }, () => this.onReady(this));
    this.socket.on('data', (d) => this.read(d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      const p = this.inFlight;
      this.inFlight = undefined;
      this.onError(this, p);
      if (!stopped) setTimeout(() => this.open(), 10);
    });
  }

  private read(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = this.buffer.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (this.buffer.length < end + 4 + length) return;
      this.buffer = this.buffer.subarray(end + 4 + length);
      const p = this.inFlight;
      this.inFlight = undefined;
      if (p !== undefined) this.onAnswer(this, p, status);
    }
  }
}

let stopped = false;

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** one URL under load: its own connections, queue and counts */
class Target {
  readonly pool: Connection[] = [];
  readonly queue: Pending[] = [];
  readonly latencies: number[] = [];
  non2xx = 0;
  errors = 0;
  answeredInWindow = 0;
  readonly request: Buffer;
  readonly url: URL;

  constructor(url: string) {
    this.url = new URL(url);
    this.request = Buffer.from(`GET ${this.url.pathname}${this.url.search} HTTP/1.1\r\nHost: ${this.url.host}\r\n\r\n`, 'latin1');
  }
}

/**
 * One URL, or several taking turns: with n URLs the time from the start is cut into slices of
 * sliceMs, slice k belonging to URL k % n (the warm-up included), and each URL is loaded only in
 * its own slices, for `seconds` in all (the run lasts n x seconds). Why: on this VM the speed of
 * a CPU drifts over seconds; URLs measured one after the other, seconds apart, each get a
 * different machine, while slices of a fraction of a second spread the drift over both alike.
 * Answers count for the URL and slice their request was sent (closed) or due (open) in.
 */
export function run(urls: string[], mode: 'open' | 'closed', rate: number, seconds: number, connections: number, warmup: number, sliceMs = 250): Promise<LoadResult[]> {
  const targets = urls.map((u) => new Target(u));
  const n = targets.length;
  const lag = monitorEventLoopDelay({ resolution: 1 });
  const start = performance.now() + 50;
  const measureFrom = start + warmup * 1000;
  const end = measureFrom + n * seconds * 1000;
  // a timer may fire a little before start: that is still the first slice
  const turn = (t: number) => (n === 1 ? 0 : Math.floor(Math.max(0, t - start) / sliceMs) % n);
  let sent = 0;
  let sendingStarted = false;

  function next(target: Target, c: Connection): void {
    if (stopped) return;
    const now = performance.now();
    if (mode === 'closed') {
      if (now < end && sendingStarted && targets[turn(now)] === target) c.send({ due: now, measured: now >= measureFrom });
      return;
    }
    const p = target.queue.shift();
    if (p !== undefined) c.send(p);
  }

  for (const target of targets) {
    const answered = (c: Connection, p: Pending, status: number) => {
      if (p.measured) {
        target.latencies.push(performance.now() - p.due);
        target.answeredInWindow++;
        if (status < 200 || status > 299) target.non2xx++;
      }
      next(target, c);
    };
    const failed = (_c: Connection, p: Pending | undefined) => {
      if (p?.measured) target.errors++;
    };
    for (let i = 0; i < connections; i++) {
      target.pool.push(new Connection(target.url.hostname, Number(target.url.port), target.request, answered, failed, (c) => next(target, c)));
    }
  }
  /** a closed-loop turn begins: the URL's idle connections start sending */
  const wake = () => {
    const target = targets[turn(performance.now())];
    for (const c of target.pool) if (c.idle) next(target, c);
  };

  return new Promise((resolve) => {
    let done = false;
    let slices: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      stopped = true;
      clearInterval(slices);
      lag.disable();
      const results = targets.map((t): LoadResult => {
        const unanswered = mode === 'open' ? t.queue.length + t.pool.filter((c) => c.busy).length : 0;
        for (const c of t.pool) c.close();
        const sorted = Float64Array.from(t.latencies).sort();
        return {
          mode,
          rate,
          achieved: t.answeredInWindow / seconds,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          p999: percentile(sorted, 0.999),
          max: sorted.length ? sorted[sorted.length - 1] : NaN,
          non2xx: t.non2xx,
          errors: t.errors,
          unanswered,
          loopLagP99: lag.percentile(99) / 1e6,
          loopLagMax: lag.max / 1e6,
        };
      });
      resolve(results);
    };
    setTimeout(() => {
      if (mode === 'closed') {
        sendingStarted = true;
        wake();
        // each turn's first connections wait for the next check: 1 ms in a turn of sliceMs
        if (n > 1) slices = setInterval(wake, 1);
        setTimeout(() => lag.enable(), measureFrom - performance.now());
      } else {
        let lagStarted = false;
        const tick = () => {
          const now = performance.now();
          if (now >= measureFrom && !lagStarted) {
            lagStarted = true;
            lag.enable();
          }
          const stopAt = Math.min(now, end);
          const due = Math.floor(((stopAt - start) * rate) / 1000);
          for (; sent < due; sent++) {
            const at = start + (sent * 1000) / rate;
            const target = targets[turn(at)];
            const p: Pending = { due: at, measured: at >= measureFrom };
            const idle = target.queue.length === 0 ? target.pool.find((c) => c.idle) : undefined;
            if (idle !== undefined) idle.send(p);
            else target.queue.push(p);
          }
          if (now < end) setImmediate(tick);
        };
        setImmediate(tick);
      }
      // stop sending at the end; answers still on their way get 2 s, then count as unanswered
      setTimeout(() => {
        const wait = setInterval(() => {
          if (targets.every((t) => t.queue.length === 0 && t.pool.every((c) => !c.busy))) {
            clearInterval(wait);
            finish();
          }
        }, 5);
        setTimeout(() => {
          clearInterval(wait);
          finish();
        }, 2000);
      }, end - performance.now());
    }, Math.max(0, start - performance.now()));
  });
}

if (require.main === module) {
  const [urls, mode, rate, seconds, connections, warmup] = process.argv.slice(2);
  void run(urls.split(','), mode as 'open' | 'closed', Number(rate), Number(seconds), Number(connections ?? 50), Number(warmup ?? 1)).then((r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  });
}
