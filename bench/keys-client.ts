import { connect, Socket } from 'node:net';

/**
 * The `keys` section's HTTP client: keep-alive connections on raw sockets, each with up to
 * `pipeline` requests in flight (HTTP/1.1 pipelining, answered in order), every request its own
 * path. Why not fetch(): measured here it tops out near 2.6k requests a second on one core,
 * below what the server answers, so first use over HTTP measured the client. This one parses
 * only the status line and content-length (the server always sends one).
 */
export interface DriveResult {
  /** answers with status 200 per second over the run */
  perSecond: number;
  ok: number;
  failed: number;
  /** ms from sending to the answer, sorted ascending (only when asked) */
  latencies?: Float64Array;
}

export interface DriveOptions {
  connections: number;
  /** requests in flight per connection (1: no pipelining) */
  pipeline: number;
  /** stop after this many requests, or this many ms, whichever first */
  total: number;
  ms: number;
  keepLatencies?: boolean;
  /** stop sending once this says so */
  until?: () => boolean;
}

class Pipe {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly sentAt: number[] = [];
  readonly socket: Socket;

  constructor(
    host: string,
    port: number,
    private readonly onAnswer: (pipe: Pipe, status: number, sentAt: number) => void,
    onReady: (pipe: Pipe) => void,
    onClose: (pipe: Pipe, lost: number) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true }, () => onReady(this));
    this.socket.on('data', (d) => this.read(d));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => onClose(this, this.sentAt.length));
  }

  get inFlight(): number {
    return this.sentAt.length;
  }

  send(request: string): void {
    this.sentAt.push(performance.now());
    this.socket.write(request, 'latin1');
  }

  private read(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    let at = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n', at);
      if (end === -1) break;
      const head = this.buffer.toString('latin1', at, end);
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (this.buffer.length < end + 4 + length) break;
      const status = Number(head.slice(9, 12));
      at = end + 4 + length;
      this.onAnswer(this, status, this.sentAt.shift()!);
    }
    this.buffer = at === 0 ? this.buffer : this.buffer.subarray(at);
  }
}

/** GET path(i) for i = 0, 1, ... over keep-alive connections until options.total requests or options.ms elapsed */
export function drive(host: string, port: number, path: (i: number) => string, options: DriveOptions): Promise<DriveResult> {
  const { connections, pipeline, total, ms } = options;
  const latencies: number[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  let open = 0;
  let started = 0;
  const pipes: Pipe[] = [];
  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      const seconds = (performance.now() - started) / 1000;
      for (const p of pipes) p.socket.destroy();
      const result: DriveResult = { perSecond: ok / seconds, ok, failed };
      if (options.keepLatencies) result.latencies = Float64Array.from(latencies).sort();
      resolve(result);
    };
    const more = () => next < total && performance.now() - started < ms && !(options.until?.() ?? false);
    const fill = (pipe: Pipe) => {
      while (pipe.inFlight < pipeline && more()) pipe.send(`GET ${path(next++)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      if (pipe.inFlight === 0 && pipes.every((p) => p.inFlight === 0)) finish();
    };
    const answered = (pipe: Pipe, status: number, sentAt: number) => {
      if (status === 200) ok++;
      else failed++;
      if (options.keepLatencies) latencies.push(performance.now() - sentAt);
      fill(pipe);
    };
    const ready = () => {
      if (++open < connections) return;
      started = performance.now();
      for (const p of pipes) fill(p);
    };
    const closed = (_pipe: Pipe, lost: number) => {
      failed += lost;
      if (!finished) finish();
    };
    for (let i = 0; i < connections; i++) pipes.push(new Pipe(host, port, answered, ready, closed));
  });
}
