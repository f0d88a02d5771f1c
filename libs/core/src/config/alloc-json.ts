import { ConfigError } from './config-error';

/**
 * go-id-alloc's alloc.json, both versions. The first binds a process to a partition
 * (PartitionIdx, TotalPartition, SegmentSize, DSN, Http*); the current one (its repository's head)
 * names a segment table (DSN, table, Http*). Keys match case-insensitively and unknown keys are
 * ignored, as Go's encoding/json does; we warn about them.
 */
const PARTITION_KEYS = ['PartitionIdx', 'TotalPartition', 'SegmentSize'];
const ALLOC_KEYS = [...PARTITION_KEYS, 'DSN', 'table', 'HttpPort', 'HttpReadTimeout', 'HttpWriteTimeout'];
/** go-id-alloc's table when its current alloc.json names none */
const DEFAULT_GO_TABLE = 'segments';

export interface GoDsn {
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
}

/**
 * Go's MySQL DSN, `[user[:password]@][tcp(host:port)]/db[?params]`. The credentials end at the
 * last `@`, since a password may hold `@` itself.
 */
export function parseGoDsn(dsn: string): GoDsn {
  const at = dsn.lastIndexOf('@');
  const credentials = at === -1 ? '' : dsn.slice(0, at);
  const rest = at === -1 ? dsn : dsn.slice(at + 1);
  const m = /^(?:(tcp|unix)?(?:\(([^)]*)\))?)?\/([^/?]+)(?:\?.*)?$/.exec(rest);
  if (m === null) throw new Error('expected [user[:password]@][tcp(host:port)]/dbname[?params]');
  if (m[1] === 'unix') throw new Error('unix sockets are not supported; use tcp(host:port)');
  const colon = credentials.indexOf(':');
  const user = colon === -1 ? credentials : credentials.slice(0, colon);
  const password = colon === -1 ? '' : credentials.slice(colon + 1);
  const address = m[2] ?? '127.0.0.1:3306';
  const hm = /^([^:]+)(?::(\d{1,5}))?$/.exec(address || '127.0.0.1:3306');
  if (hm === null) throw new Error(`bad address "${address}"; expected host:port`);
  const port = hm[2] === undefined ? 3306 : Number(hm[2]);
  if (port < 1 || port > 65535) throw new Error(`bad port ${port}`);
  if (user === '') throw new Error('no user');
  return { user, password, host: hm[1], port, database: m[3] };
}

export function dsnToUrl(d: GoDsn): string {
  const auth = encodeURIComponent(d.user) + (d.password ? `:${encodeURIComponent(d.password)}` : '');
  return `mysql://${auth}@${d.host}:${d.port}/${encodeURIComponent(d.database)}`;
}

function wholeNumber(file: Record<string, unknown>, key: string, min: number, path: string): number {
  const v = file[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(`${key}: must be a whole number >= ${min} (got ${JSON.stringify(v)} in alloc.json ${path})`);
  }
  return v;
}

/**
 * The file's keys under go-id-alloc's spelling, matched case-insensitively (the last of two
 * spellings wins, as Go decodes them in order); keys it does not know are returned apart.
 */
function canonicalKeys(file: Record<string, unknown>): { known: Record<string, unknown>; unknown: string[] } {
  const known: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(file)) {
    const name = ALLOC_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
    if (name === undefined) unknown.push(key);
    else known[name] = value;
  }
  return { known, unknown };
}

/**
 * go-id-alloc's alloc.json read as our settings; undefined when the file is not one (none of its
 * keys). The DSN is the main MySQL database, holding every table. The first version's partition
 * becomes the one this process prefers and SegmentSize the partition segment size; `table` (the
 * current version) becomes SEGMENT_TABLE.
 */
export function translateAllocJson(
  file: Record<string, unknown>,
  path: string,
  warn: (line: string) => void = () => undefined,
): Record<string, unknown> | undefined {
  const { known, unknown } = canonicalKeys(file);
  if (Object.keys(known).length === 0) return undefined;
  for (const key of unknown) warn(`alloc.json ${path}: ${key} is not an alloc.json setting; ignored (alloc.json has ${ALLOC_KEYS.join(', ')})`);
  const firstVersion = PARTITION_KEYS.some((k) => known[k] !== undefined);
  for (const key of firstVersion ? [...PARTITION_KEYS, 'DSN'] : ['DSN']) {
    if (known[key] === undefined) throw new ConfigError(`${key}: missing from alloc.json ${path}`);
  }
  if (typeof known.DSN !== 'string') throw new ConfigError(`DSN: must be a string (alloc.json ${path})`);
  let url: string;
  try {
    url = dsnToUrl(parseGoDsn(known.DSN));
  } catch (e) {
    throw new ConfigError(`DSN: ${(e as Error).message} (alloc.json ${path})`);
  }
  const out: Record<string, unknown> = { DATABASE_URL: url };
  if (firstVersion) {
    const total = wholeNumber(known, 'TotalPartition', 1, path);
    const idx = wholeNumber(known, 'PartitionIdx', 1, path);
    if (idx > total) throw new ConfigError(`PartitionIdx: must be from 1 to TotalPartition (${total}) (got ${idx} in alloc.json ${path})`);
    out.PARTITIONS = [{ idx, total, url }];
    out.PARTITION_SEGMENT_SIZE = wholeNumber(known, 'SegmentSize', 1, path);
    // the file states the layout go-id-alloc v1 drew its tables under: a cut-over records it
    out.PARTITION_ADOPT_LAYOUT = true;
  }
  if (known.table !== undefined) {
    if (typeof known.table !== 'string') throw new ConfigError(`table: must be a string (alloc.json ${path})`);
    out.SEGMENT_TABLE = known.table;
  } else if (!firstVersion) {
    out.SEGMENT_TABLE = DEFAULT_GO_TABLE;
  }
  if (known.HttpPort !== undefined) out.PORT = wholeNumber(known, 'HttpPort', 1, path);
  if (known.HttpReadTimeout !== undefined) out.HTTP_READ_TIMEOUT_MS = wholeNumber(known, 'HttpReadTimeout', 0, path);
  if (known.HttpWriteTimeout !== undefined) out.HTTP_WRITE_TIMEOUT_MS = wholeNumber(known, 'HttpWriteTimeout', 0, path);
  return out;
}
