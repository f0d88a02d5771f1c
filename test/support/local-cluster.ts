import { chownSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './process';

/**
 * What the database clusters the HA tests start themselves (mariadb-cluster.ts, pg-cluster.ts)
 * have in common: a block of loopback ports, a temp dir owned by the server's system user (the
 * servers refuse to run as root), and a bounded wait.
 */

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * Local ports of every TCP socket on the machine but those closing. A listen here succeeds on a port
 * that is only the local end of another process's connection (Node sets SO_REUSEADDR), yet some
 * servers then fail to bind it: rsync's daemon for a Galera state transfer did, twice, on a port
 * of the ephemeral range held by another session's pooled connection.
 */
function portsInUse(): Set<number> {
  const used = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // not Linux: the listen check alone
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      // TIME_WAIT (06) and CLOSE (07) hold nothing a listener with SO_REUSEADDR minds
      if (local && state !== '06' && state !== '07') used.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return used;
}

/** `count` consecutive free ports inside [from, to]. */
export async function portBlock(from: number, to: number, count: number): Promise<number[]> {
  const used = portsInUse();
  // a machine shared by several runs gives each its own range (TEST_PORT_RANGE=47200-47299)
  const own = /^(\d+)-(\d+)$/.exec(process.env.TEST_PORT_RANGE ?? '');
  if (own) [from, to] = [Number(own[1]), Number(own[2])];
  for (let base = from; base + count - 1 <= to; base += count) {
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if (ports.some((p) => used.has(p))) continue;
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return ports;
  }
  throw new Error(`no ${count} free ports in ${from}-${to}`);
}

const accounts = new Map<string, { uid: number; gid: number }>();

/** uid and gid of a system user (mysql, postgres), from /etc/passwd. */
export function systemUser(name: string): { uid: number; gid: number } {
  const known = accounts.get(name);
  if (known) return known;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} user on this machine`);
  const [, , uid, gid] = line.split(':');
  const ids = { uid: Number(uid), gid: Number(gid) };
  accounts.set(name, ids);
  return ids;
}

export function hasSystemUser(name: string): boolean {
  try {
    systemUser(name);
    return true;
  } catch {
    return false;
  }
}

/** A temp dir under /tmp for one cluster's nodes, owned by the servers' user. */
export function ownedTempDir(prefix: string, user: string): string {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const { uid, gid } = systemUser(user);
  chownSync(root, uid, gid);
  return root;
}

/** Polls `check` every 200 ms (a throw counts as not yet) until it holds, or throws naming `what`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
