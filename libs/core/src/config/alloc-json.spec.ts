import { ConfigError, loadConfig } from './load-config';
import { parseGoDsn } from './alloc-json';

const files: Record<string, string> = {};
const load = (file: unknown, env: Record<string, string> = {}) => {
  files['/alloc.json'] = JSON.stringify(file);
  return loadConfig({ env, argv: ['--config', '/alloc.json'], readFile: (p) => files[p] });
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
    [{ ...good, Extra: 1 }, /^Extra: not an alloc.json setting/],
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
});
