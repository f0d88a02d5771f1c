import { maskUrl, StartupError } from '@app/core';
import { createConnection } from 'mysql2/promise';
import { MYSQL_CONNECT_TIMEOUT_MS, MysqlHost, parseMysqlUrl, singleHostUrl } from './mysql-pool';

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
  const code = String((error as { code?: unknown } | null)?.code ?? '').replace(/^ER_ACCESS_DENIED_NO_PASSWORD_ERROR$/, 'ER_ACCESS_DENIED_ERROR');
  const db = databaseName(url);
  const user = userName(url);
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
      return { what: `database "${db}" does not exist`, todo: `create it (CREATE DATABASE \`${db}\`), or correct the name in ${setting}` };
    case 'ER_DBACCESS_DENIED_ERROR':
      return { what: `user "${user}" may not use database "${db}"`, todo: `grant it (GRANT ALL ON \`${db}\`.* TO '${user}')` };
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
 * Throws databaseStartupFailure when none does.
 */
export async function checkMysqlAtStart(setting: string, url: string, timeoutMs = MYSQL_CONNECT_TIMEOUT_MS): Promise<MysqlHost> {
  const attempts: HostAttempt[] = [];
  const target = parseMysqlUrl(url);
  for (const [index, host] of target.hosts.entries()) {
    try {
      const connection = await createConnection({ uri: singleHostUrl(target, index), connectTimeout: timeoutMs });
      await connection.end().catch(() => undefined);
      return host;
    } catch (error) {
      attempts.push({ ...host, error });
    }
  }
  throw databaseStartupFailure(setting, url, attempts);
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
