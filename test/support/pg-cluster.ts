import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tracked } from './children';
import { hasSystemUser, ownedTempDir, systemUser, waitFor } from './local-cluster';

/**
 * Real PostgreSQL 15 servers for the failover tests, started inside the test run from Debian's
 * binaries: each node a data dir under a temp dir owned by postgres, its own loopback port, its
 * unix socket in its data dir, trust auth for 127.0.0.1 (replication included). The postmaster
 * is spawned directly as the postgres user (spawn's uid/gid, what `runuser -u postgres` does),
 * so the tracked child IS the postmaster: stopping it by pid stops the server, and the test
 * file's last afterAll kills it if a test failed before its own clean-up.
 */
export const PG_BIN = '/usr/lib/postgresql/15/bin';
const TOOLS = ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres', 'psql'] as const;
const tool = (name: (typeof TOOLS)[number]) => join(PG_BIN, name);

/** What the PostgreSQL failover suites need from the machine; a reason when something is missing. */
export function postgresPackagesMissing(): string | null {
  for (const name of TOOLS) if (!existsSync(tool(name))) return `${tool(name)} is not installed (Debian's postgresql-15)`;
  if (!hasSystemUser('postgres')) return 'there is no postgres user to run the servers as';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'starting postgres as the postgres user needs root';
  return null;
}

/** The service's own account and database (not a superuser: the service needs none). */
export const PG_APP_USER = 'ids';
export const PG_APP_PASSWORD = 'ids-test-password';
export const PG_APP_DB = 'idha';

/** postgres://ids:pw@127.0.0.1:a,127.0.0.1:b/idha: the hosts in the order the service tries them */
export function pgAppUrl(ports: number[]): string {
  return `postgres://${PG_APP_USER}:${PG_APP_PASSWORD}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${PG_APP_DB}`;
}

/** A temp dir for one cluster's nodes, owned by postgres. */
export function pgClusterRoot(tag: string): string {
  return ownedTempDir(`idpg-${tag}`, 'postgres');
}

/** runs one of the PostgreSQL tools as the postgres user; its output in the error when it fails */
async function asPostgres(name: (typeof TOOLS)[number], args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  const { uid, gid } = systemUser('postgres');
  try {
    const { stdout } = await promisify(execFile)(tool(name), args, {
      uid,
      gid,
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
      timeout: timeoutMs,
    });
    return stdout;
  } catch (e) {
    const said = String((e as { stderr?: string }).stderr || (e as Error).message).trim().slice(-800);
    throw new Error(`${name} ${args.join(' ')} failed: ${said}`);
  }
}

/** postmaster signals: what `pg_ctl stop -m <mode>` sends */
const STOP_SIGNAL = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' } as const;
export type StopMode = keyof typeof STOP_SIGNAL;

export class PgNode {
  readonly datadir: string;
  readonly logPath: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly root: string,
    readonly name: string,
    readonly port: number,
  ) {
    this.datadir = join(root, name);
    this.logPath = join(root, `${name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** an empty cluster (trust auth; --no-sync: a test's cluster outlives no machine crash) */
  async initdb(): Promise<void> {
    await asPostgres('initdb', ['-D', this.datadir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], this.root);
    writeFileSync(join(this.datadir, 'pg_hba.conf'), ['local all all trust', 'host all all 127.0.0.1/32 trust', 'local replication all trust', 'host replication all 127.0.0.1/32 trust', ''].join('\n'));
    writeFileSync(join(this.datadir, 'postgresql.conf'), `${readFileSync(join(this.datadir, 'postgresql.conf'), 'utf8')}\ninclude 'node.conf'\n`);
    this.writeNodeConf([]);
  }

  /**
   * A standby of `primary` from a base backup. Its node.conf (port, socket, where it streams
   * from) is its own; postgresql.auto.conf is emptied so nothing the primary set with ALTER
   * SYSTEM (synchronous_standby_names above all: a promoted standby would wait for itself) comes
   * along.
   */
  async baseBackupFrom(primary: PgNode): Promise<void> {
    await asPostgres('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', this.datadir, '-X', 'stream', '-c', 'fast', '--no-sync'], this.root);
    writeFileSync(join(this.datadir, 'postgresql.auto.conf'), '# emptied by the test harness after the base backup\n');
    writeFileSync(join(this.datadir, 'standby.signal'), '');
    this.writeNodeConf([`primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=${this.name}'`]);
  }

  private writeNodeConf(extra: string[]): void {
    const lines = [
      `port = ${this.port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${this.datadir}'`,
      `cluster_name = '${this.name}'`,
      'shared_buffers = 16MB',
      'max_connections = 80',
      'wal_level = replica',
      'max_wal_senders = 5',
      'wal_keep_size = 128MB',
      'synchronous_commit = on',
      'hot_standby = on',
      'wal_receiver_status_interval = 1s',
      'log_min_messages = warning',
      ...extra,
    ];
    writeFileSync(join(this.datadir, 'node.conf'), lines.join('\n') + '\n');
    // files rewritten keep their owner; the ones created here would be root's
    const { uid, gid } = systemUser('postgres');
    for (const f of ['node.conf', 'standby.signal']) {
      if (existsSync(join(this.datadir, f))) chownSync(join(this.datadir, f), uid, gid);
    }
  }

  /** starts the postmaster and waits until it accepts connections (a standby: once consistent) */
  async start(timeoutMs = 90_000): Promise<void> {
    const { uid, gid } = systemUser('postgres');
    const log = openSync(this.logPath, 'a');
    try {
      const child = tracked(spawn(tool('postgres'), ['-D', this.datadir], { uid, gid, cwd: this.root, stdio: ['ignore', log, log], env: { LANG: 'C', LC_ALL: 'C' } }));
      this.child = child;
      this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited while starting:\n${this.logTail()}`);
      try {
        await this.value('SELECT 1');
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`${this.name} did not accept connections within ${timeoutMs} ms:\n${this.logTail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** stops the postmaster by pid as `pg_ctl stop -m mode` would (immediate: no checkpoint, the crash) */
  stop(mode: StopMode): Promise<void> {
    return this.kill(STOP_SIGNAL[mode]);
  }

  /** signals the postmaster and waits for it to exit */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child!.kill(signal);
    await this.exited;
  }

  /** `pg_ctl promote`, waiting until it left recovery */
  async promote(): Promise<void> {
    await asPostgres('pg_ctl', ['promote', '-D', this.datadir, '-w', '-t', '60'], this.root, 90_000);
  }

  /** one statement through psql as the superuser over loopback TCP: rows of text fields */
  async sql(statement: string, database = 'postgres'): Promise<string[][]> {
    const args = ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', database, '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', statement];
    try {
      const { stdout } = await promisify(execFile)(tool('psql'), args, { timeout: 15_000, env: { PATH: process.env.PATH ?? '', PGCONNECT_TIMEOUT: '3' } });
      // one line per row (a row of one empty field is an empty line); no rows, no output
      return stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t'));
    } catch (e) {
      throw new Error(`${this.name}: psql -c "${statement}" failed: ${String((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
    }
  }

  /** the first field of the first row */
  async value(statement: string, database = 'postgres'): Promise<string | undefined> {
    return (await this.sql(statement, database))[0]?.[0];
  }

  async inRecovery(): Promise<boolean> {
    return (await this.value('SELECT pg_is_in_recovery()')) === 't';
  }

  waitRecovery(inRecovery: boolean, timeoutMs = 60_000): Promise<void> {
    return waitFor(async () => (await this.inRecovery()) === inRecovery, timeoutMs, `${this.name} ${inRecovery ? 'in recovery' : 'out of recovery'}`);
  }

  /** on a primary: this standby's row of pg_stat_replication (state, sync_state, replay_lsn), if attached */
  async replicationOf(standby: PgNode): Promise<{ state: string; syncState: string; replayLsn: string } | undefined> {
    const [row] = await this.sql(`SELECT state, sync_state, replay_lsn FROM pg_stat_replication WHERE application_name = '${standby.name}'`);
    return row && { state: row[0], syncState: row[1], replayLsn: row[2] };
  }

  /** on a primary: waits until `standby` replayed everything written here so far */
  async waitReplayed(standby: PgNode, timeoutMs = 60_000): Promise<void> {
    const lsn = await this.value('SELECT pg_current_wal_lsn()');
    await waitFor(
      async () => (await this.value(`SELECT replay_lsn >= '${lsn}'::pg_lsn FROM pg_stat_replication WHERE application_name = '${standby.name}'`)) === 't',
      timeoutMs,
      `${standby.name} to replay up to ${lsn}`,
    );
  }

  /**
   * On a standby: stops receiving WAL (its walreceiver ends; it keeps what it has). Pausing replay
   * would not do for a lossy promotion: promotion replays everything already received.
   */
  async stopReceiving(timeoutMs = 30_000): Promise<void> {
    await this.sql(`ALTER SYSTEM SET primary_conninfo = ''`);
    await this.sql('SELECT pg_reload_conf()');
    await waitFor(async () => (await this.value('SELECT count(*) FROM pg_stat_wal_receiver')) === '0', timeoutMs, `${this.name}'s walreceiver to stop`);
  }

  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

export type StandbyKind = 'sync' | 'async';

/**
 * A primary and its standbys (each named by its kind: 'sync' is the one synchronous standby,
 * `synchronous_commit = on`, so a commit returns once it is flushed there). The service's role
 * and database are created before the base backups; synchronous_standby_names is set (ALTER
 * SYSTEM, on the primary only) once the standby streams, so no commit waits for a standby that
 * is not there yet. ports[0] is the primary's, then one per standby.
 */
export async function startPrimaryStandbys(root: string, ports: number[], kinds: StandbyKind[]): Promise<{ primary: PgNode; standbys: PgNode[] }> {
  const primary = new PgNode(root, 'primary', ports[0]);
  const standbys = kinds.map((kind, i) => new PgNode(root, kind, ports[i + 1]));
  try {
    await primary.initdb();
    await primary.start();
    await primary.sql(`CREATE ROLE ${PG_APP_USER} LOGIN PASSWORD '${PG_APP_PASSWORD}'`);
    await primary.sql(`CREATE DATABASE ${PG_APP_DB} OWNER ${PG_APP_USER}`);
    for (const s of standbys) {
      await s.baseBackupFrom(primary);
      await s.start();
    }
    await waitFor(async () => (await Promise.all(standbys.map((s) => primary.replicationOf(s)))).every((r) => r?.state === 'streaming'), 60_000, 'every standby streaming');
    if (kinds.includes('sync')) {
      await primary.sql(`ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (sync)'`);
      await primary.sql('SELECT pg_reload_conf()');
      const sync = standbys[kinds.indexOf('sync')];
      await waitFor(async () => (await primary.replicationOf(sync))?.syncState === 'sync', 60_000, 'the sync standby reported as synchronous');
    }
  } catch (e) {
    // never handed to the test: stopped here, so its clean-up only has the dir to remove
    await stopPgCluster([primary, ...standbys], undefined);
    throw e;
  }
  return { primary, standbys };
}

/** Stops every node by pid (immediate, then SIGKILL if it lingers) and removes the temp dir. */
export async function stopPgCluster(nodes: PgNode[], root: string | undefined): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      let timer: NodeJS.Timeout | undefined;
      const quick = await Promise.race([n.stop('immediate').then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
      clearTimeout(timer);
      if (!quick) await n.kill('SIGKILL');
    }),
  );
  if (root) rmSync(root, { recursive: true, force: true });
}
