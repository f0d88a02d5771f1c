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
 * Usage: node load-client.js URL open|closed RATE SECONDS CONNECTIONS WARMUP_SECONDS -> one JSON
 * line on stdout. Bounded: it stops sending at the end and gives up on answers 2 s later.
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

export function run(url: string, mode: 'open' | 'closed', rate: number, seconds: number, connections: number, warmup: number): Promise<LoadResult> {
  const target = new URL(url);
  const request = Buffer.from(`GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n\r\n`, 'latin1');
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let answeredInWindow = 0;
  const queue: Pending[] = [];
  const lag = monitorEventLoopDelay({ resolution: 1 });
  const start = performance.now() + 50;
  const measureFrom = start + warmup * 1000;
  const end = measureFrom + seconds * 1000;
  let sent = 0;

  const answered = (c: Connection, p: Pending, status: number) => {
    const now = performance.now();
    if (p.measured) {
      latencies.push(now - p.due);
      answeredInWindow++;
      if (status < 200 || status > 299) non2xx++;
    }
    next(c);
  };
  const failed = (_c: Connection, p: Pending | undefined) => {
    if (p?.measured) errors++;
  };
  const pool: Connection[] = [];
  const ready = (c: Connection) => {
    if (mode === 'open' || sendingStarted) next(c);
  };
  let sendingStarted = false;
  for (let i = 0; i < connections; i++) pool.push(new Connection(target.hostname, Number(target.port), request, answered, failed, ready));

  function next(c: Connection): void {
    if (stopped) return;
    if (mode === 'closed') {
      const now = performance.now();
      if (now < end) c.send({ due: now, measured: now >= measureFrom });
      return;
    }
    const p = queue.shift();
    if (p !== undefined) c.send(p);
  }

  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stopped = true;
      lag.disable();
      const unanswered = mode === 'open' ? queue.length + pool.filter((c) => c.busy).length : 0;
      for (const c of pool) c.close();
      const sorted = Float64Array.from(latencies).sort();
      resolve({
        mode,
        rate,
        achieved: answeredInWindow / seconds,
        p50: percentile(sorted, 0.5),
        p99: percentile(sorted, 0.99),
        p999: percentile(sorted, 0.999),
        max: sorted.length ? sorted[sorted.length - 1] : NaN,
        non2xx,
        errors,
        unanswered,
        loopLagP99: lag.percentile(99) / 1e6,
        loopLagMax: lag.max / 1e6,
      });
    };
    setTimeout(() => {
      if (mode === 'closed') {
        sendingStarted = true;
        for (const c of pool) if (c.idle) next(c);
      } else {
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
            const p: Pending = { due: at, measured: at >= measureFrom };
            const idle = pool.find((c) => c.idle);
            if (idle !== undefined && queue.length === 0) idle.send(p);
            else queue.push(p);
          }
          if (now < end) setImmediate(tick);
        };
        let lagStarted = false;
        setImmediate(tick);
      }
      if (mode === 'closed') setTimeout(() => lag.enable(), measureFrom - performance.now());
      // stop sending at the end; answers still on their way get 2 s, then count as unanswered
      setTimeout(() => {
        const wait = setInterval(() => {
          if (queue.length === 0 && pool.every((c) => !c.busy)) {
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
  const [url, mode, rate, seconds, connections, warmup] = process.argv.slice(2);
  void run(url, mode as 'open' | 'closed', Number(rate), Number(seconds), Number(connections ?? 50), Number(warmup ?? 1)).then((r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  });
}
