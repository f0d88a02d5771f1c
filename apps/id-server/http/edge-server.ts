import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { WriteStallGuard } from './write-stall-guard';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface EdgeServerOptions {
  /** HTTP_READ_TIMEOUT_MS: the whole request must arrive within this (Node's requestTimeout) */
  readTimeoutMs: number;
  /** HTTP_WRITE_TIMEOUT_MS: a connection whose answers stop leaving is closed after this (0: never) */
  writeTimeoutMs: number;
  /** idle time allowed between requests on a kept-alive connection */
  keepAliveTimeoutMs: number;
}

/**
 * The service's one HTTP server (Fastify's serverFactory, see bootstrap). Everything goes to
 * Nest's Fastify instance, except GET and HEAD once DirectRoutes is ready: those go first to the
 * direct routes' own Fastify instance, which answers the id routes and hands every other request
 * back, untouched, to Nest's (see DirectRoutes). It also holds the connection limits, which with
 * a serverFactory are the factory's to set (Fastify sets none on a server it did not create).
 */
export class EdgeServer extends Server {
  private first: RequestListener | undefined;
  private closeAfterAnswers = false;

  constructor(options: EdgeServerOptions, nest: RequestListener) {
    super();
    this.keepAliveTimeout = options.keepAliveTimeoutMs;
    this.requestTimeout = options.readTimeoutMs;
    this.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // set before either Fastify instance answers (they merge it into their own headers)
      if (this.closeAfterAnswers) res.setHeader('connection', 'close');
      const first = this.first;
      // only bodyless methods: a request the direct instance hands back must still have its body
      if (first !== undefined && (req.method === 'GET' || req.method === 'HEAD')) first(req, res);
      else nest(req, res);
    });
    if (options.writeTimeoutMs > 0) this.guardWrites(new WriteStallGuard(options.writeTimeoutMs));
  }

  /** GET and HEAD go to listener first from now on; it hands back what it does not serve */
  serveFirst(listener: RequestListener): void {
    this.first = listener;
  }

  /**
   * From now on every answer, from either Fastify instance, carries `Connection: close`: during the
   * shutdown drain each kept-alive connection then ends cleanly after its next answer, instead of
   * being closed under a request its client (a balancer) sent just as the server stopped.
   */
  closeConnectionsAfterAnswers(): void {
    this.closeAfterAnswers = true;
  }

  private guardWrites(guard: WriteStallGuard): void {
    let timer: NodeJS.Timeout | undefined;
    this.on('connection', (socket) => guard.track(socket));
    this.on('listening', () => {
      clearInterval(timer);
      timer = setInterval(() => guard.sweep(performance.now()), guard.intervalMs).unref();
    });
    this.on('close', () => clearInterval(timer));
  }
}
