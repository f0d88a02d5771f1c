import { createConnection, createServer, Server, Socket } from 'node:net';

export type ProxyMode = 'pass' | 'cut' | 'blackhole';

/**
 * A TCP proxy in front of a database that a test can break:
 * - cut: open connections destroyed, new ones refused (the listener closes);
 * - blackhole: open connections destroyed, new ones accepted and never answered;
 * - pass: forwards again, on the same port.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  mode: ProxyMode = 'pass';

  private constructor(
    readonly port: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetHost: string, targetPort: number, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(port, targetHost, targetPort);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((client) => this.accept(client));
      server.on('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        (this as { port: number }).port = (server.address() as { port: number }).port;
        this.server = server;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.mode === 'blackhole') return; // keep it open, answer nothing
    const upstream = createConnection(this.targetPort, this.targetHost);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async set(mode: ProxyMode): Promise<void> {
    this.mode = mode;
    this.dropAll();
    if (mode === 'cut') {
      await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
      this.server = undefined;
    } else if (!this.server) {
      await this.listen();
    }
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}
