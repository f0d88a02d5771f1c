import { ConfigError, loadConfig } from './load-config';
import { parseGoDsn } from './alloc-json';

const files: Record<string, string> = {};
let warnings: string[] = [];
const load = (file: unknown, env: Record<string, string> = {}, argv = ['--config', '/alloc.json']) => {
  files['/alloc.json'] = JSON.stringify(file);
  warnings = [];
  return loadConfig({ env, argv, readFile: (p) => files[p], warn: (line) => warnings.push(line) });
};
const good = {
  PartitionIdx: 2,
  TotalPartition: 2,
  SegmentSize: 200000,
  DSN: 'user:password@123@tcp(Mysql2:3306)/id_alloc_db',
  HttpPort: 8880,
  HttpReadTimeout: 5000,
  HttpWriteTimeout: 5000,
};

describe("go-id-alloc's alloc.json", () => {
  it('parses Go DSNs, splitting the credentials at the last @', () => {
    expect(parseGoDsn('user:password@123@tcp(Mysql2:3306)/id_alloc_db')).toEqual({
      user: 'user',
      password: 'password@123',
      host: 'Mysql2',
      port: 3306,
      database: 'id_alloc_db',
    });
    expect(parseGoDsn('root@tcp(127.0.0.1:3307)/ids?charset=utf8')).toMatchObject({ user: 'root', password: '', port: 3307, database: 'ids' });
    expect(parseGoDsn('u:p@/db')).toMatchObject({ host: '127.0.0.1', port: 3306 });
    expect(() => parseGoDsn('not a dsn')).toThrow();
    expect(() => parseGoDsn('u:p@tcp(h:99999)/db')).toThrow(/port/);
    expect(() => parseGoDsn('u@unix(/tmp/s)/db')).toThrow(/unix/);
  });

  it('becomes the main MySQL database, its partition, segment size, port and timeouts', () => {
    const c = load(good);
    expect(c.DB_TYPE).toBe('mysql');
    expect(c.DATABASE_URL).toBe('mysql://user:password%40123@Mysql2:3306/id_alloc_db');
    expect(c.PARTITIONS).toEqual([{ idx: 2, total: 2, url: c.DATABASE_URL }]);
    expect(c.PARTITION_SEGMENT_SIZE).toBe(200000);
    expect(c.PORT).toBe(8880);
    expect(c.HTTP_READ_TIMEOUT_MS).toBe(5000);
    expect(c.HTTP_WRITE_TIMEOUT_MS).toBe(5000);
  });

  it('lets the environment override the file', () => {
    expect(load(good, { PORT: '9999', HTTP_READ_TIMEOUT_MS: '100' })).toMatchObject({ PORT: 9999, HTTP_READ_TIMEOUT_MS: 100 });
  });

  it.each([
    [{ ...good, PartitionIdx: undefined }, /^PartitionIdx: missing from alloc.json/],
    [{ ...good, DSN: undefined }, /^DSN: missing/],
    [{ ...good, PartitionIdx: 0 }, /^PartitionIdx: must be a whole number >= 1/],
    [{ ...good, PartitionIdx: 3 }, /^PartitionIdx: must be from 1 to TotalPartition \(2\)/],
    [{ ...good, SegmentSize: 0 }, /^SegmentSize: must be a whole number >= 1/],
    [{ ...good, DSN: 'mysql://wrong' }, /^DSN: expected \[user\[:password\]@\]\[tcp\(host:port\)\]\/dbname/],
    [{ ...good, HttpPort: 'x' }, /^HttpPort: /],
  ])('refuses %j in one line', (file, pattern) => {
    let message = '';
    try {
      load(file);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  });

  it('warns about an unknown key and starts anyway, as Go ignores it', () => {
    const c = load({ ...good, Extra: 1, LogLevel: 'debug' });
    expect(c.PORT).toBe(8880);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^alloc.json \/alloc.json: Extra is not an alloc.json setting; ignored/);
    expect(warnings.every((w) => !w.includes('\n'))).toBe(true);
  });

  it('matches keys case-insensitively, as Go does', () => {
    const c = load({ partitionidx: 1, TOTALPARTITION: 2, segmentSize: 10, dsn: 'root@tcp(db:3306)/ids', httpport: 9001 });
    expect(c.PARTITIONS).toEqual([{ idx: 1, total: 2, url: 'mysql://root@db:3306/ids' }]);
    expect(c.PARTITION_SEGMENT_SIZE).toBe(10);
    expect(c.PORT).toBe(9001);
    expect(warnings).toEqual([]);
  });
});

describe("go-id-alloc's current alloc.json (DSN + table)", () => {
  const current = { DSN: 'ids:secret@tcp(127.0.0.1:3306)/id_db', table: 'segments', HttpPort: 8880, HttpReadTimeout: 5000, HttpWriteTimeout: 5000 };

  it('becomes the main MySQL database and SEGMENT_TABLE, no partition', () => {
    const c = load(current);
    expect(c.DB_TYPE).toBe('mysql');
    expect(c.DATABASE_URL).toBe('mysql://ids:secret@127.0.0.1:3306/id_db');
    expect(c.SEGMENT_TABLE).toBe('segments');
    expect(c.PARTITIONS).toBeUndefined();
    expect(c).toMatchObject({ PORT: 8880, HTTP_READ_TIMEOUT_MS: 5000, HTTP_WRITE_TIMEOUT_MS: 5000 });
  });

  it('keys in any case; no table means go-id-alloc\'s segments; unknown keys warned', () => {
    const c = load({ dsn: current.DSN, Table: 'my_segments', httpPort: 8881, Debug: true });
    expect(c.SEGMENT_TABLE).toBe('my_segments');
    expect(c.PORT).toBe(8881);
    expect(warnings).toEqual([expect.stringMatching(/Debug is not an alloc.json setting; ignored/)]);
    expect(load({ DSN: current.DSN }).SEGMENT_TABLE).toBe('segments');
  });

  it.each([
    [{ table: 'segments' }, /^DSN: missing from alloc.json/],
    [{ ...current, table: 'no such-table' }, /^SEGMENT_TABLE: must be a table name/],
    [{ ...current, table: 7 }, /^table: must be a string/],
    [{ ...current, HttpPort: '8880' }, /^HttpPort: must be a whole number/],
  ])('refuses %j in one line', (file, pattern) => {
    expect(() => load(file)).toThrow(pattern);
  });

  it.each([
    [['-config', '/alloc.json']],
    [['-config=/alloc.json']],
    [['--config', '/alloc.json']],
    [['--config=/alloc.json']],
  ])('is read with %j', (argv) => {
    expect(load(current, {}, argv).SEGMENT_TABLE).toBe('segments');
  });
});
