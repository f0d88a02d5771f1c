import { ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection, createConnection } from 'mysql2/promise';
import { tracked } from './children';
import { ownedTempDir, portBlock, systemUser, waitFor } from './local-cluster';
import { freePort, sleep } from './process';

/**
 * Real MariaDB servers for the high-availability tests, started from the machine's own packages
 * inside the test run: each with its --defaults-file FIRST (the system my.cnf points at the
 * shared server on 3306), its own datadir under a temp dir chown'd to mysql, its own loopback
 * ports from 33100-33299, run as user=mysql, and torn down by pid.
 */
export const MARIADBD = '/usr/sbin/mariadbd';
export const GALERA = '/usr/lib/galera/libgalera_smm.so';
const INSTALL_DB = '/usr/bin/mariadb-install-db';

/** What the HA suites need from the machine; a reason when something is missing. */
export function clusterPackagesMissing(galera = false): string | null {
  for (const f of [MARIADBD, INSTALL_DB, ...(galera ? [GALERA, '/usr/bin/rsync', '/usr/bin/wsrep_sst_rsync'] : [])]) {
    if (!existsSync(f)) return `${f} is not installed`;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'starting mariadbd as user=mysql needs root';
  return null;
}

/** The service's own account: not an administrator, so read_only applies to it. */
export const APP_USER = 'ids';
export const APP_PASSWORD = 'ids-test-password';
export const APP_DB = 'idha';

export interface NodeOptions {
  name: string;
  port: number;
  /** extra [mysqld] lines */
  cnf: string[];
}

export class MariaNode {
  readonly dir: string;
  readonly datadir: string;
  readonly socket: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    root: string,
    readonly options: NodeOptions,
  ) {
    this.dir = join(root, options.name);
    this.datadir = join(this.dir, 'data');
    this.socket = join(this.dir, 'mysqld.sock');
    mkdirSync(this.datadir, { recursive: true });
    this.writeCnf();
  }

  get port(): number {
    return this.options.port;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get cnfPath(): string {
    return join(this.dir, 'my.cnf');
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private writeCnf(): void {
    const lines = [
      '[mysqld]',
      'user=mysql',
      `datadir=${this.datadir}`,
      `socket=${this.socket}`,
      `port=${this.options.port}`,
      'bind-address=127.0.0.1',
      `pid-file=${join(this.dir, 'mysqld.pid')}`,
      `log-error=${join(this.dir, 'error.log')}`,
      'skip-name-resolve',
      'performance_schema=OFF',
      'innodb_buffer_pool_size=32M',
      'innodb_log_file_size=16M',
      'innodb_flush_log_at_trx_commit=1',
      'max_connections=200',
      ...this.options.cnf,
    ];
    writeFileSync(this.cnfPath, lines.join('\n') + '\n');
    this.chown();
  }

  private chown(): void {
    const { uid, gid } = systemUser('mysql');
    for (const p of [this.dir, this.datadir]) chownSync(p, uid, gid);
  }

  /** system tables into an empty datadir (not for Galera joiners: they get the donor's by SST) */
  async install(): Promise<void> {
    const run = () =>
      promisify(execFile)(INSTALL_DB, [`--defaults-file=${this.cnfPath}`, '--user=mysql', '--skip-test-db', '--auth-root-authentication-method=socket'], {
        timeout: 120_000,
      });
    try {
      await run();
    } catch (first) {
      // seen once on CI with no output kept: one more try into an emptied datadir, and the tool's own words if it fails again
      this.wipe();
      try {
        await run();
      } catch (e) {
        const said = (x: unknown) => String((x as { stderr?: string }).stderr ?? (x as Error).message).trim().slice(-600);
        throw new Error(`${INSTALL_DB} failed twice: ${said(first)} / ${said(e)}`);
      }
    }
  }

  /** empties the datadir, so a rejoin takes a full state transfer */
  wipe(): void {
    rmSync(this.datadir, { recursive: true, force: true });
    mkdirSync(this.datadir, { recursive: true });
    this.chown();
  }

  /**
   * A Galera node back from an empty datadir (a full state transfer). On a loaded 2-core machine
   * a joiner can lose the group while the transfer runs (seen on CI: its links flapped, it left
   * and exited); an operator starts it again, and so does this, once, saying so.
   */
  async rejoin(): Promise<void> {
    this.wipe();
    try {
      await this.start();
    } catch (first) {
      if (this.running) throw first; // did not start in time: not a lost join
      console.log(`${this.options.name}: the rejoin failed, starting it once more (${String(first).split('\n')[0]})`);
      await this.freshTransferPorts();
      this.wipe();
      await this.start();
    }
  }

  /**
   * A joiner's rsync daemon dies at once, and its IST listener fails to bind, when the port
   * (inside the ephemeral range) is the local end of another process's connection, and the node
   * exits (seen here four times, on ports another session's connections kept taking): a second
   * try takes ports the system just handed out.
   */
  private async freshTransferPorts(): Promise<void> {
    const [sst, ist] = [await freePort(), await freePort()];
    this.options.cnf = this.options.cnf.map((l) =>
      l
        .replace(/^wsrep_sst_receive_address=127\.0\.0\.1:\d+$/, `wsrep_sst_receive_address=127.0.0.1:${sst}`)
        .replace(/ist\.recv_addr=127\.0\.0\.1:\d+/, `ist.recv_addr=127.0.0.1:${ist}`),
    );
    this.writeCnf();
  }

  /**
   * A Galera node back with its datadir (after a crash: InnoDB recovery, then the write sets it
   * missed, by IST). The joiner always prepares its rsync receiver first (freshTransferPorts): a start
   * that exits is tried once more, saying so.
   */
  async restart(): Promise<void> {
    try {
      await this.start();
    } catch (first) {
      if (this.running) throw first;
      console.log(`${this.options.name}: the restart failed, starting it once more (${String(first).split('\n')[0]})`);
      await this.freshTransferPorts();
      await this.start();
    }
  }

  /** starts mariadbd and waits until it accepts connections on its socket */
  async start(args: string[] = [], timeoutMs = 90_000): Promise<void> {
    const child = tracked(spawn(MARIADBD, [`--defaults-file=${this.cnfPath}`, ...args], { stdio: 'ignore' }));
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.options.name} exited while starting:\n${this.errorLog()}`);
      try {
        const c = await this.root();
        await c.end();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`${this.options.name} did not start within ${timeoutMs} ms:\n${this.errorLog()}`);
        await sleep(200);
      }
    }
  }

  /** SIGKILL (the failure) or SIGTERM (a clean stop), waiting for the exit */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child!.kill(signal);
    await this.exited;
  }

  /** an administrator connection over the node's socket (we are root: unix_socket auth) */
  root(): Promise<Connection> {
    return createConnection({ socketPath: this.socket, user: 'root', supportBigNumbers: true, bigNumberStrings: true, connectTimeout: 3000 });
  }

  async query<T = any>(sql: string, values: unknown[] = []): Promise<T> {
    const c = await this.root();
    try {
      const [rows] = await c.query(sql, values);
      return rows as T;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async status(name: string): Promise<string | undefined> {
    const rows = await this.query<{ Value: string }[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
    return rows[0]?.Value;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '(no error log)';
    }
  }
}

/**
 * A block of `count` free loopback ports, from [from, to] or from TEST_DB_PORTS ("from-to") when
 * set: sessions sharing a machine give each run a range of its own.
 */
export function clusterPorts(from: number, to: number, count: number): Promise<number[]> {
  const range = /^(\d+)-(\d+)$/.exec(process.env.TEST_DB_PORTS ?? '');
  return range ? portBlock(Number(range[1]), Number(range[2]), count) : portBlock(from, to, count);
}

export interface GaleraCluster {
  root: string;
  nodes: MariaNode[];
  /** each node's client port, in node order */
  ports: number[];
}

/**
 * A 3-node Galera cluster on loopback (galera-4, rsync state transfers), bootstrapped from node 1
 * with the service's database and account; the joiners start empty and take node 1's state by
 * rsync SST. `ports`: 12 free ports (client, group, IST, SST for each node).
 */
export async function startGalera(tag: string, ports: number[], ready?: (first: MariaNode) => Promise<void>): Promise<GaleraCluster> {
  const [mysql, gcomm, ist, sst] = [0, 3, 6, 9].map((o) => ports.slice(o, o + 3));
  const root = clusterRoot(tag);
  const address = `gcomm://${gcomm.map((p) => `127.0.0.1:${p}`).join(',')}`;
  const nodes: MariaNode[] = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      new MariaNode(root, {
        name: `node${i + 1}`,
        port: mysql[i],
        cnf: [
          'binlog_format=ROW',
          'default_storage_engine=InnoDB',
          'innodb_autoinc_lock_mode=2',
          'wsrep_on=ON',
          `wsrep_provider=${GALERA}`,
          `wsrep_cluster_address=${address}`,
          `wsrep_cluster_name=id${tag}`,
          'wsrep_node_address=127.0.0.1',
          `wsrep_node_name=node${i + 1}`,
          `wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:${gcomm[i]};ist.recv_addr=127.0.0.1:${ist[i]};gcache.size=64M"`,
          'wsrep_sst_method=rsync',
          `wsrep_sst_receive_address=127.0.0.1:${sst[i]}`,
        ],
      }),
    );
  }
  try {
    await nodes[0].install();
    await nodes[0].start(['--wsrep-new-cluster']);
    // the socket answers before the new cluster's primary component is up ("WSREP has not yet
    // prepared node for application use", seen on a loaded machine)
    await waitFor(async () => (await nodes[0].status('wsrep_ready')) === 'ON', 60_000, 'node1 ready for clients');
    await createAppAccount(nodes[0]);
    await ready?.(nodes[0]);
    for (const n of nodes.slice(1)) await n.rejoin();
    await waitSynced(nodes, 3);
  } catch (e) {
    await teardown(nodes, root);
    throw e;
  }
  return { root, nodes, ports: mysql };
}

/** Until every node in `nodes` is Synced in a primary component of `size`. */
export async function waitSynced(nodes: MariaNode[], size: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const states = await Promise.all(nodes.map(async (n) => [await n.status('wsrep_local_state_comment'), await n.status('wsrep_cluster_size')]));
      if (states.every(([s, c]) => s === 'Synced' && Number(c) === size)) return;
    } catch {
      /* a node still starting */
    }
    if (Date.now() > deadline) throw new Error(`cluster not synced within ${timeoutMs} ms:\n${nodes.map((n) => n.errorLog()).join('\n---\n')}`);
    await sleep(250);
  }
}

/** A temp dir for a cluster's nodes, traversable by the mysql user. */
export function clusterRoot(tag: string): string {
  return ownedTempDir(`idha-${tag}`, 'mysql');
}

/** The service's database and non-admin account, created once on a writable node (replicated to the rest). */
export async function createAppAccount(node: MariaNode): Promise<void> {
  await node.query(`CREATE DATABASE IF NOT EXISTS ${APP_DB}`);
  await node.query(`CREATE USER IF NOT EXISTS '${APP_USER}'@'127.0.0.1' IDENTIFIED BY '${APP_PASSWORD}'`);
  await node.query(`GRANT ALL PRIVILEGES ON ${APP_DB}.* TO '${APP_USER}'@'127.0.0.1'`);
}

/** mysql://ids:pw@127.0.0.1:a,127.0.0.1:b/idha */
export function appUrl(ports: number[]): string {
  return `mysql://${APP_USER}:${APP_PASSWORD}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}/${APP_DB}`;
}

/** Tears every node down by pid and removes the temp dir. */
export async function teardown(nodes: MariaNode[], root: string | undefined): Promise<void> {
  await Promise.all(nodes.map((n) => n.kill('SIGKILL').catch(() => undefined)));
  if (root) rmSync(root, { recursive: true, force: true });
}

export const REPL_USER = 'repl';
const REPL_PASSWORD = 'repl-test-password';

/**
 * A primary and a replica (GTID replication), both starting read_only=ON as every server should;
 * the test, as the orchestrator, clears read_only on the one primary. semiSync: MariaDB's
 * built-in semi-synchronous replication, AFTER_SYNC, with a timeout far above the test so it
 * never falls back to asynchronous.
 */
export async function startPrimaryReplica(root: string, ports: number[], semiSync: boolean): Promise<[MariaNode, MariaNode]> {
  const common = ['log_bin=mysql-bin', 'binlog_format=ROW', 'log_slave_updates=ON', 'read_only=ON', 'gtid_strict_mode=ON'];
  const primary = new MariaNode(root, {
    name: 'primary',
    port: ports[0],
    cnf: [
      'server_id=1',
      ...common,
      ...(semiSync ? ['rpl_semi_sync_master_enabled=ON', 'rpl_semi_sync_master_wait_point=AFTER_SYNC', 'rpl_semi_sync_master_timeout=600000'] : []),
    ],
  });
  const replica = new MariaNode(root, {
    name: 'replica',
    port: ports[1],
    cnf: ['server_id=2', ...common, ...(semiSync ? ['rpl_semi_sync_slave_enabled=ON'] : [])],
  });
  await Promise.all([primary.install(), replica.install()]);
  await Promise.all([primary.start(), replica.start()]);
  // not in the binary log: a semi-sync primary would hold this commit for the whole timeout, no replica being attached yet
  const c = await primary.root();
  try {
    await c.query('SET SESSION sql_log_bin = 0');
    await c.query(`CREATE USER '${REPL_USER}'@'127.0.0.1' IDENTIFIED BY '${REPL_PASSWORD}'`);
    await c.query(`GRANT REPLICATION SLAVE ON *.* TO '${REPL_USER}'@'127.0.0.1'`);
  } finally {
    await c.end();
  }
  await replica.query(
    `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${ports[0]}, MASTER_USER='${REPL_USER}', MASTER_PASSWORD='${REPL_PASSWORD}', MASTER_USE_GTID=slave_pos`,
  );
  await replica.query('START SLAVE');
  if (semiSync) {
    // with no replica attached the first commit would wait the whole timeout, then turn asynchronous
    await waitFor(async () => (await primary.status('Rpl_semi_sync_master_clients')) === '1', 60_000, 'the replica attached as semi-sync');
  }
  await primary.query('SET GLOBAL read_only = 0'); // the orchestrator's part: one writable primary
  await createAppAccount(primary);
  await waitFor(async () => (await replica.query(`SHOW DATABASES LIKE '${APP_DB}'`)).length === 1, 60_000, 'the replica applied the setup');
  return [primary, replica];
}

/**
 * Promotes a replica as an orchestrator must: stop receiving, wait until everything received is
 * applied, then make it the one writable primary. applied: false skips the wait and throws the
 * unapplied relay log away (what an asynchronous failover can lose).
 */
export async function promote(replica: MariaNode, applied = true): Promise<void> {
  await replica.query('STOP SLAVE IO_THREAD');
  if (applied) {
    const [status] = await replica.query<Record<string, string>[]>('SHOW SLAVE STATUS');
    const [row] = await replica.query<{ r: string }[]>('SELECT MASTER_GTID_WAIT(?, 60) AS r', [status.Gtid_IO_Pos]);
    if (String(row.r) !== '0') throw new Error(`the replica did not apply ${status.Gtid_IO_Pos} within 60 s`);
  }
  await replica.query('STOP SLAVE');
  await replica.query('RESET SLAVE ALL');
  await replica.query('SET GLOBAL read_only = 0');
}
