import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tracked } from './children';

export const MAIN_JS = join(__dirname, '../../dist/apps/id-server/main.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The built service as a real child process (`npm run build` first; `npm test` does). */
export class ServerProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** starts without waiting for it to listen */
  static spawn(env: Record<string, string>, args: string[] = [], port?: number): ServerProcess {
    const p = port ?? Number(env.PORT);
    const child = tracked(spawn(process.execPath, [MAIN_JS, ...args], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(p) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    return new ServerProcess(child, p);
  }

  /** starts and waits until /health/live answers */
  static async start(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<ServerProcess> {
    const server = ServerProcess.spawn(env, args, env.PORT ? Number(env.PORT) : await freePort());
    try {
      await server.waitLive(timeoutMs);
    } catch (e) {
      // never handed to the test, so never killed by it: a process left running keeps jest from exiting
      await server.kill('SIGKILL');
      throw e;
    }
    return server;
  }

  async waitLive(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`server exited before listening:\n${this.output}`);
      try {
        const res = await fetch(`${this.url}/health/live`, { signal: AbortSignal.timeout(5000) });
        if (res.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    throw new Error(`server not live after ${timeoutMs} ms:\n${this.output}`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}
