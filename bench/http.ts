import autocannon from 'autocannon';
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const MAIN_JS = join(__dirname, '../apps/id-server/main.js');
export const BARE_FASTIFY_JS = join(__dirname, 'baseline-fastify.js');
export const EMPTY_NEST_JS = join(__dirname, 'baseline-nest.js');

export interface HttpRun {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  non2xx: number;
  errors: number;
}

let nextBenchPort = 0;

/**
 * A port for a server the bench starts: the next of BENCH_PORT_RANGE (`47200-47299`) when set,
 * so runs beside others on a shared machine stay in their own ports; else one the OS picks.
 */
export function freePort(): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(process.env.BENCH_PORT_RANGE ?? '');
  if (range) {
    const [low, high] = [Number(range[1]), Number(range[2])];
    return Promise.resolve(low + (nextBenchPort++ % (high - low + 1)));
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** argv run under `taskset -c cpus` when asked (and taskset exists), else as is */
export function pinned(cpus: string | undefined, argv: string[]): [string, string[]] {
  return cpus !== undefined && existsSync('/usr/bin/taskset') ? ['/usr/bin/taskset', ['-c', cpus, ...argv]] : [argv[0], argv.slice(1)];
}

/** The built service as a child process, waited for until it answers. */
export class Service {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** cpus: a taskset CPU list to pin the process (and its workers) to */
  static async start(env: Record<string, string>, script = MAIN_JS, cpus?: string): Promise<Service> {
    const port = await freePort();
    // the service takes its port from PORT (it refuses arguments other than --config); the baselines from argv
    const [command, args] = pinned(cpus, [process.execPath, script, ...(script === MAIN_JS ? [] : [String(port)])]);
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', HOST: '127.0.0.1', ...env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const service = new Service(child, `http://127.0.0.1:${port}`);
    const deadline = Date.now() + 30_000;
    const probe = script === MAIN_JS ? '/health/ready' : '/ids/segment';
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${service.url}${probe}`)).ok) return service;
      } catch {
        /* starting */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error('service did not start');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** autocannon against one URL, bounded in time. */
export async function load(url: string, opts: { connections?: number; seconds?: number; rate?: number } = {}): Promise<HttpRun> {
  const result = await autocannon({
    url,
    connections: opts.connections ?? 50,
    duration: opts.seconds ?? 5,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  const latency = result.latency as unknown as Record<string, number>;
  return {
    requests: result.requests.total,
    rps: result.requests.total / (opts.seconds ?? 5),
    p50: latency.p50,
    p99: latency.p99,
    p999: latency.p99_9,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
