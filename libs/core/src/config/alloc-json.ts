import { ConfigError } from './config-error';

/** go-id-alloc's alloc.json keys; a file with any of them is read as alloc.json. */
const ALLOC_KEYS = ['PartitionIdx', 'TotalPartition', 'SegmentSize', 'DSN', 'HttpPort', 'HttpReadTimeout', 'HttpWriteTimeout'];
const REQUIRED = ['PartitionIdx', 'TotalPartition', 'SegmentSize', 'DSN'];

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
 * go-id-alloc's alloc.json read as our settings: the DSN is the main MySQL database (holding
 * every table) and the partition this process prefers; SegmentSize the partition segment size.
 */
export function translateAllocJson(file: Record<string, unknown>, path: string): Record<string, unknown> | undefined {
  if (!Object.keys(file).some((k) => ALLOC_KEYS.includes(k))) return undefined;
  for (const key of Object.keys(file)) {
    if (!ALLOC_KEYS.includes(key)) throw new ConfigError(`${key}: not an alloc.json setting (${path}); alloc.json has ${ALLOC_KEYS.join(', ')}`);
  }
  for (const key of REQUIRED) {
    if (file[key] === undefined) throw new ConfigError(`${key}: missing from alloc.json ${path}`);
  }
  const total = wholeNumber(file, 'TotalPartition', 1, path);
  const idx = wholeNumber(file, 'PartitionIdx', 1, path);
  if (idx > total) throw new ConfigError(`PartitionIdx: must be from 1 to TotalPartition (${total}) (got ${idx} in alloc.json ${path})`);
  const size = wholeNumber(file, 'SegmentSize', 1, path);
  if (typeof file.DSN !== 'string') throw new ConfigError(`DSN: must be a string (alloc.json ${path})`);
  let url: string;
  try {
    url = dsnToUrl(parseGoDsn(file.DSN));
  } catch (e) {
    throw new ConfigError(`DSN: ${(e as Error).message} (alloc.json ${path})`);
  }
  const out: Record<string, unknown> = {
    DATABASE_URL: url,
    PARTITIONS: [{ idx, total, url }],
    PARTITION_SEGMENT_SIZE: size,
  };
  if (file.HttpPort !== undefined) out.PORT = wholeNumber(file, 'HttpPort', 1, path);
  if (file.HttpReadTimeout !== undefined) out.HTTP_READ_TIMEOUT_MS = wholeNumber(file, 'HttpReadTimeout', 0, path);
  if (file.HttpWriteTimeout !== undefined) out.HTTP_WRITE_TIMEOUT_MS = wholeNumber(file, 'HttpWriteTimeout', 0, path);
  return out;
}
