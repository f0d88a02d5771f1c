import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tracked } from './children';
import { freePort, sleep } from './process';

const DEPLOY = join(__dirname, '../../deploy');

export type BalancerKind = 'haproxy' | 'nginx';

const BINARIES: Record<BalancerKind, string> = { haproxy: '/usr/sbin/haproxy', nginx: '/usr/sbin/nginx' };

/** the balancers whose Debian package is installed here (.ci/run installs both) */
export const installedBalancers = (): BalancerKind[] => (['haproxy', 'nginx'] as const).filter((b) => existsSync(BINARIES[b]));

/** replaces every match, failing loudly if the shipped file no longer has it */
function substitute(text: string, from: string | RegExp, to: string, file: string): string {
  const pattern =
    typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : new RegExp(from.source, `${from.flags.replace('g', '')}g`);
  if (!pattern.test(text)) throw new Error(`${file}: expected ${String(from)} (the test renders the shipped file)`);
  pattern.lastIndex = 0;
  return text.replace(pattern, to);
}

/**
 * The shipped file as run here: the three example server addresses become `backends` (in order),
 * the listen port a free one on 127.0.0.1, and the machine-wide paths (pid, logs, temp
 * directories, the user to drop to) ones in a directory of its own. Nothing else changes.
 */
export function renderShipped(kind: BalancerKind, port: number, backends: string[], dir: string): string {
  const file = kind === 'haproxy' ? 'haproxy/haproxy.cfg' : 'nginx/nginx.conf';
  let text = readFileSync(join(DEPLOY, file), 'utf8');
  const examples = ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'];
  if (backends.length !== examples.length) throw new Error(`${file} names ${examples.length} instances`);
  examples.forEach((example, i) => (text = substitute(text, example, backends[i], file)));
  if (kind === 'haproxy') {
    text = substitute(text, /^ {4}bind :80$/m, `    bind 127.0.0.1:${port}`, file);
    text = substitute(text, /^ {4}log \/dev\/log local0$/m, '    log stderr format short local0 warning', file);
    if (process.getuid?.() !== 0) text = substitute(text, /^ {4}(user|group) haproxy$/m, '', file);
  } else {
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, temp), { recursive: true });
    text = substitute(text, /^ {8}listen 80;$/m, `        listen 127.0.0.1:${port};`, file);
    text = substitute(text, /^pid \/run\/nginx\.pid;$/m, `pid ${join(dir, 'nginx.pid')};`, file);
    text = substitute(text, /^error_log \/var\/log\/nginx\/error\.log;$/m, 'error_log stderr warn;', file);
    text = substitute(text, /^ {4}access_log \/var\/log\/nginx\/access\.log;$/m, '    access_log off;', file);
    const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, t)};`).join('\n');
    text = substitute(text, /^http \{$/m, `http {\n${temps}`, file);
    text = substitute(text, /^user www-data;$/m, process.getuid?.() === 0 ? 'user www-data;' : '', file);
  }
  const out = join(dir, kind === 'haproxy' ? 'haproxy.cfg' : 'nginx.conf');
  writeFileSync(out, text);
  return out;
}

/** A balancer process in the foreground, from the shipped configuration; stop() by its pid. */
export class Balancer {
  output = '';
  private readonly exited: Promise<unknown>;

  private constructor(
    readonly kind: BalancerKind,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.on('exit', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(kind: BalancerKind, backends: string[]): Promise<Balancer> {
    const dir = mkdtempSync(join(tmpdir(), `idalloc-${kind}-`));
    const port = await freePort();
    const config = renderShipped(kind, port, backends, dir);
    // the configuration check first: its complaint is clearer than a process that exits
    const check =
      kind === 'haproxy' ? spawnSync(BINARIES.haproxy, ['-c', '-q', '-f', config]) : spawnSync(BINARIES.nginx, ['-t', '-q', '-c', config, '-g', 'daemon off; master_process off;']);
    if (check.status !== 0) throw new Error(`${kind} refuses the rendered ${config}:\n${check.stderr}${check.stdout}`);
    // one process, run in the foreground, so the pid is all there is to stop
    const args = kind === 'haproxy' ? ['-db', '-f', config] : ['-c', config, '-g', 'daemon off; master_process off;'];
    const balancer = new Balancer(kind, port, tracked(spawn(BINARIES[kind], args, { stdio: ['ignore', 'pipe', 'pipe'] })));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (balancer.child.exitCode !== null) throw new Error(`${kind} exited at start:\n${balancer.output}`);
      const res = await fetch(`${balancer.url}/health/live`).catch(() => undefined);
      if (res?.status === 200) return balancer;
      await sleep(100);
    }
    await balancer.stop();
    throw new Error(`${kind} not answering after 20 s:\n${balancer.output}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
