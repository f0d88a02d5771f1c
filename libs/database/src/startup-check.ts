import { maskUrl, StartupError } from '@app/core';
import { createConnection } from 'mysql2/promise';
import { Client } from 'pg';
import { MYSQL_CONNECT_TIMEOUT_MS, MysqlHost } from './mysql-pool';
import { DbHost, DbTarget, parseDbUrl, singleHostUrl } from './sql-pool';

/** One host tried at start and what it answered. */
export interface HostAttempt extends MysqlHost {
  error: unknown;
}

function databaseName(url: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/]*\/([^?]*)/i.exec(url)?.[1] ?? '';
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function userName(url: string): string {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)/i.exec(url)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  const user = at === -1 ? '' : authority.slice(0, at).split(':')[0];
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

/** What one host's answer means, in words, and what the operator can do about it. */
function explain(error: unknown, url: string, setting: string): { what: string; todo: string } {
  const code = String((error as { code?: unknown } | null)?.code ?? '')
    .replace(/^ER_ACCESS_DENIED_NO_PASSWORD_ERROR$/, 'ER_ACCESS_DENIED_ERROR')
    // PostgreSQL's SQLSTATEs for the same answers
    .replace(/^(28P01|28000)$/, 'ER_ACCESS_DENIED_ERROR')
    .replace(/^3D000$/, 'ER_BAD_DB_ERROR')
    .replace(/^42501$/, 'ER_DBACCESS_DENIED_ERROR')
    .replace(/^$/, /timeout/i.test((error as Error)?.message ?? '') ? 'ETIMEDOUT' : '');
  const db = databaseName(url);
  const user = userName(url);
  const postgres = /^postgres/i.test(url);
  switch (code) {
    case 'ECONNREFUSED':
      return { what: 'connection refused', todo: `start the database, or correct the host and port in ${setting}` };
    case 'ETIMEDOUT':
    case 'PROTOCOL_SEQUENCE_TIMEOUT':
      return { what: `no answer within ${MYSQL_CONNECT_TIMEOUT_MS} ms`, todo: `check that the host is reachable from here (firewall, network), or correct it in ${setting}` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { what: 'host name not found', todo: `correct the host name in ${setting}` };
    case 'ER_ACCESS_DENIED_ERROR':
      return { what: `login refused for user "${user}"`, todo: `correct the user and password in ${setting}, or create the user` };
    case 'ER_BAD_DB_ERROR':
      return {
        what: `database "${db}" does not exist`,
        todo: `create it (CREATE DATABASE ${postgres ? `"${db}"` : `\`${db}\``}), or correct the name in ${setting}`,
      };
    case 'ER_DBACCESS_DENIED_ERROR':
      return {
        what: `user "${user}" may not use database "${db}"`,
        todo: postgres ? `grant it (GRANT CONNECT, CREATE ON DATABASE "${db}" TO "${user}")` : `grant it (GRANT ALL ON \`${db}\`.* TO '${user}')`,
      };
    default:
      return { what: `${code || 'error'}: ${(error as Error)?.message ?? String(error)}`, todo: `check ${setting} and the database log` };
  }
}

/**
 * The one line a start-up failure on MySQL prints: the setting, the masked URL, each host tried
 * with its answer, and what to do. Every start-up path that connects reports through this.
 */
export function databaseStartupFailure(setting: string, url: string, attempts: readonly HostAttempt[]): StartupError {
  const answers = attempts.map((a) => ({ ...a, ...explain(a.error, url, setting) }));
  const tried = answers.map((a) => `${a.host}:${a.port} ${a.what}`).join('; ');
  const todos = [...new Set(answers.map((a) => a.todo))].join('; ');
  return new StartupError(`${setting}: cannot use ${maskUrl(url)}: ${tried}. To do: ${todos}.`, {
    cause: attempts[attempts.length - 1]?.error,
  });
}

/**
 * One connection attempt per host, in order, each bounded by the connect timeout (a refused
 * connection fails at once); the first that logs in and opens the database is the answer.
 * Throws databaseStartupFailure when none does. MySQL or PostgreSQL, by the URL.
 */
export async function checkDatabaseAtStart(setting: string, url: string, timeoutMs = MYSQL_CONNECT_TIMEOUT_MS): Promise<DbHost> {
  const attempts: HostAttempt[] = [];
  const target = parseDbUrl(url);
  for (const [index, host] of target.hosts.entries()) {
    try {
      await (target.dialect === 'postgres' ? connectPg(target, index, timeoutMs) : connectMysql(target, index, timeoutMs));
      return host;
    } catch (error) {
      attempts.push({ ...host, error });
    }
  }
  throw databaseStartupFailure(setting, url, attempts);
}

async function connectMysql(target: DbTarget, index: number, timeoutMs: number): Promise<void> {
  const connection = await createConnection({ uri: singleHostUrl(target, index), connectTimeout: timeoutMs });
  await connection.end().catch(() => undefined);
}

async function connectPg(target: DbTarget, index: number, timeoutMs: number): Promise<void> {
  const client = pgClient(singleHostUrl(target, index), timeoutMs);
  try {
    await client.connect();
  } finally {
    await client.end().catch(() => undefined);
  }
}

function pgClient(url: string, timeoutMs: number): Client {
  const { user, password, database, hosts } = parseDbUrl(url);
  const client = new Client({ host: hosts[0].host, port: hosts[0].port, user, password, database, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  return client;
}

/** SQLITE_PATH that cannot be created or opened: one line saying which file and why. */
export function sqliteStartupFailure(path: string, error: unknown): StartupError {
  const code = String((error as { code?: unknown } | null)?.code ?? '');
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'ENOTDIR' || code === 'EEXIST'
        ? 'a part of the path is a file, not a folder'
        : code === 'EISDIR'
          ? 'it is a folder'
          : code === 'SQLITE_CANTOPEN'
            ? 'cannot be opened'
            : code === 'SQLITE_NOTADB'
              ? 'the file is not a SQLite database'
              : `${code || 'error'}: ${(error as Error)?.message ?? String(error)}`;
  return new StartupError(
    `SQLITE_PATH: cannot use ${path}: ${why}. To do: set SQLITE_PATH to a writable file path (its folder is created).`,
    { cause: error },
  );
}

/** The server settings and grants the start-up warnings judge, as the host in use reports them. */
export interface ServerFacts {
  /** @@version: "10.11.6-MariaDB-..." or MySQL's "8.0.36" */
  version: string;
  /** SHOW GRANTS for the connected user */
  grants: string[];
  innodbFlushLogAtTrxCommit: string;
  syncBinlog: string;
  /** @@log_bin: whether a binary log is written at all */
  logBin: string;
}

const isMariaDb = (version: string) => /mariadb/i.test(version);
const versionAtLeast = (version: string, major: number, minor: number) => {
  const [a, b] = version.split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
};

/**
 * The global privilege that lets this user write while read_only is ON, or null. read_only is
 * what marks a replica or a demoted primary, and what MysqlPool's host check relies on; a user
 * exempt from it could write to such a host if anything sent it there. MariaDB: READ_ONLY ADMIN
 * (in ALL PRIVILEGES; in SUPER before 10.11); MySQL: SUPER or CONNECTION_ADMIN (in ALL).
 */
export function readOnlyExemption(facts: Pick<ServerFacts, 'version' | 'grants'>): string | null {
  const global = facts.grants.filter((g) => /\bON \*\.\* TO\b/i.test(g)).map((g) => g.toUpperCase().replace(/_/g, ' '));
  const has = (privilege: string) => global.some((g) => new RegExp(`^GRANT (.*, )?${privilege}(,| ON )`).test(g));
  const candidates = isMariaDb(facts.version)
    ? ['ALL PRIVILEGES', 'READ ONLY ADMIN', ...(versionAtLeast(facts.version, 10, 11) ? [] : ['SUPER'])]
    : ['ALL PRIVILEGES', 'SUPER', 'CONNECTION ADMIN'];
  return candidates.find(has)?.replace('READ ONLY ADMIN', 'READ_ONLY ADMIN').replace('CONNECTION ADMIN', 'CONNECTION_ADMIN') ?? null;
}

/**
 * One line per setting under which the server acknowledges a commit it can lose in a crash: a
 * lost segment fetch is handed out again after the restart, and its ids repeated. Only 1 makes
 * each commit durable before it is acknowledged; sync_binlog matters only with a binary log
 * (replication and promotion read it).
 */
export function durabilityWarnings(facts: Omit<ServerFacts, 'version' | 'grants'>, host: string): string[] {
  const lines: string[] = [];
  if (facts.innodbFlushLogAtTrxCommit !== '1') {
    lines.push(
      `${host}: innodb_flush_log_at_trx_commit=${facts.innodbFlushLogAtTrxCommit}: acknowledged commits can be lost on a crash, and ids issued again. To do: set innodb_flush_log_at_trx_commit=1 (docs/operations.md, "High availability").`,
    );
  }
  if (facts.syncBinlog !== '1' && facts.logBin === '1') {
    lines.push(
      `${host}: sync_binlog=${facts.syncBinlog}: acknowledged commits can be missing from the binary log after a crash (a replica promoted from it lacks them), and ids issued again. To do: set sync_binlog=1 (docs/operations.md, "High availability").`,
    );
  }
  return lines;
}

/** PostgreSQL's settings under which an acknowledged commit can be lost in a crash (SHOW values). */
export interface PgServerFacts {
  fsync: string;
  synchronousCommit: string;
  fullPageWrites: string;
}

/**
 * One line per PostgreSQL setting that acknowledges a commit a crash can lose (a lost segment
 * fetch is handed out again): fsync off, synchronous_commit off, full_page_writes off.
 */
export function pgDurabilityWarnings(facts: PgServerFacts, host: string): string[] {
  const lines: string[] = [];
  const todo = '(docs/operations.md, "High availability")';
  if (facts.fsync !== 'on') {
    lines.push(`${host}: fsync=${facts.fsync}: a crash can lose acknowledged commits or corrupt the database, and ids be issued again. To do: set fsync=on ${todo}.`);
  }
  if (facts.synchronousCommit === 'off') {
    lines.push(
      `${host}: synchronous_commit=off: acknowledged commits can be lost on a crash, and ids issued again. To do: set synchronous_commit=on (or remote_apply with a synchronous standby) ${todo}.`,
    );
  }
  if (facts.fullPageWrites !== 'on') {
    lines.push(`${host}: full_page_writes=${facts.fullPageWrites}: a crash can leave torn pages, and ids be issued again. To do: set full_page_writes=on ${todo}.`);
  }
  return lines;
}

/** Reads the facts on one host (the one in use) and says what is worth a warning, one line each. */
export async function startupWarnings(url: string, host: string, timeoutMs = MYSQL_CONNECT_TIMEOUT_MS): Promise<string[]> {
  if (parseDbUrl(url).dialect === 'postgres') {
    const client = pgClient(url, timeoutMs);
    try {
      await client.connect();
      const { rows } = await client.query(
        "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, current_setting('full_page_writes') AS fpw",
      );
      return pgDurabilityWarnings({ fsync: rows[0].fsync, synchronousCommit: rows[0].sc, fullPageWrites: rows[0].fpw }, host);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const connection = await createConnection({ uri: url, connectTimeout: timeoutMs });
  try {
    const [[vars]] = (await connection.query(
      'SELECT @@version AS version, @@global.innodb_flush_log_at_trx_commit AS flush, @@global.sync_binlog AS syncBinlog, @@global.log_bin AS logBin',
    )) as unknown as [{ version: string; flush: unknown; syncBinlog: unknown; logBin: unknown }[]];
    const [grantRows] = (await connection.query('SHOW GRANTS')) as unknown as [Record<string, string>[]];
    const facts: ServerFacts = {
      version: String(vars.version),
      grants: grantRows.map((r) => String(Object.values(r)[0])),
      innodbFlushLogAtTrxCommit: String(vars.flush),
      syncBinlog: String(vars.syncBinlog),
      logBin: String(vars.logBin),
    };
    const lines = durabilityWarnings(facts, host);
    const exemption = readOnlyExemption(facts);
    if (exemption !== null) {
      lines.unshift(
        `${host}: user "${userName(url)}" holds ${exemption}, so it can write while read_only is ON (a replica, a demoted primary). To do: connect as a user with only the grants on the database (docs/operations.md, "High availability").`,
      );
    }
    return lines;
  } finally {
    await connection.end().catch(() => undefined);
  }
}
