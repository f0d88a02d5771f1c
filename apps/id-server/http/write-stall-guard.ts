/** What the guard reads of a socket: net.Socket's own properties. */
export interface GuardedSocket {
  /** bytes queued in Node, not yet handed to the kernel */
  readonly writableLength: number;
  /** bytes written, the queued ones included */
  readonly bytesWritten: number;
  readonly destroyed: boolean;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

interface Stall {
  /** bytes handed to the kernel when the stall was first seen */
  flushed: number;
  since: number;
}

/**
 * HTTP_WRITE_TIMEOUT_MS: a connection whose answers stop leaving (its client reads nothing, the
 * kernel's buffers are full and Node queues the rest) is destroyed once no byte has left for
 * timeoutMs. Why a sweep and not socket.setTimeout: an idle-socket timer is re-armed on every
 * read and write, i.e. twice per request, which measured ~4% of the id routes' CPU; this looks at
 * each connection once per intervalMs and costs nothing per request. A stall is ended between
 * timeoutMs and timeoutMs + intervalMs after it began. Reading limits are Node's own
 * (requestTimeout: HTTP_READ_TIMEOUT_MS; keepAliveTimeout between requests).
 */
export class WriteStallGuard {
  private readonly sockets = new Set<GuardedSocket>();
  private readonly stalls = new Map<GuardedSocket, Stall>();
  /** how often sweep() should run: a quarter of the timeout, within 50 ms..1 s */
  readonly intervalMs: number;

  constructor(private readonly timeoutMs: number) {
    this.intervalMs = Math.min(1000, Math.max(50, Math.floor(timeoutMs / 4)));
  }

  get tracked(): number {
    return this.sockets.size;
  }

  track(socket: GuardedSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stalls.delete(socket);
    });
  }

  /** destroys the connections whose output has not moved for timeoutMs; returns how many */
  sweep(now: number): number {
    let destroyed = 0;
    for (const socket of this.sockets) {
      if (socket.destroyed || socket.writableLength === 0) {
        this.stalls.delete(socket);
        continue;
      }
      const flushed = socket.bytesWritten - socket.writableLength;
      const stall = this.stalls.get(socket);
      if (stall === undefined || stall.flushed !== flushed) {
        this.stalls.set(socket, { flushed, since: now });
      } else if (now - stall.since >= this.timeoutMs) {
        this.stalls.delete(socket);
        socket.destroy();
        destroyed++;
      }
    }
    return destroyed;
  }
}
