import { ConfigError, loadConfig, registerConfigFileTranslator } from './load-config';

const files: Record<string, string> = {};
const readFile = (p: string) => {
  if (!(p in files)) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return files[p];
};
const load = (env: Record<string, string>, argv: string[] = []) => loadConfig({ env, argv, readFile });
const failure = (env: Record<string, string>, argv: string[] = []) => {
  try {
    load(env, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('has the documented defaults and the embedded database', () => {
    const c = load({});
    expect(c).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      DB_TYPE: 'sqlite',
      SQLITE_PATH: './data/id-allocator.sqlite',
      LOG_LEVEL: 'info',
      MAX_COUNT: 10000,
      WORKERS: 1,
      SEGMENT_PRELOAD: 0.1,
      SEGMENT_WAIT_MS: 2000,
      SEGMENT_STEP_MAX: 1_000_000,
      SEGMENT_DYNAMIC_STEP: true,
      SNOWFLAKE_BITS: '41,10,12',
      SNOWFLAKE_WORKER_ID: 'lease',
      SNOWFLAKE_LEASE_MS: 3000,
      SNOWFLAKE_RENEW_MS: 1000,
      SNOWFLAKE_MAX_BACKWARD_MS: 5,
    });
  });

  describe('a variable with our prefixes that is no setting', () => {
    const warnings = (env: Record<string, string>) => {
      const lines: string[] = [];
      loadConfig({ env, argv: [], readFile, warn: (l) => lines.push(l) });
      return lines;
    };

    it('is one warning line naming the nearest setting, and the start goes on', () => {
      expect(warnings({ SEGMENT_STEPMAX: '5' })).toEqual([
        'SEGMENT_STEPMAX is not a setting and is ignored; did you mean SEGMENT_STEP_MAX? (settings: docs/configuration.md)',
      ]);
      expect(warnings({ SNOWFLAKE_WORKERID: '3', HTTP_READ_TIMEOUT: '5', ADMIN_TOKN: 'x' })).toEqual([
        expect.stringMatching(/^ADMIN_TOKN is not a setting .*did you mean ADMIN_TOKEN\?/),
        expect.stringMatching(/^HTTP_READ_TIMEOUT is not a setting .*did you mean HTTP_READ_TIMEOUT_MS\?/),
        expect.stringMatching(/^SNOWFLAKE_WORKERID is not a setting .*did you mean SNOWFLAKE_WORKER_ID\?/),
      ]);
    });

    it('is silent for settings, other prefixes, and variables other programs read', () => {
      expect(warnings({ SEGMENT_STEP_MAX: '5', PATH: '/bin', HOME: '/root', NODE_ENV: 'production', HTTP_PROXY: 'http://p:3128', CONFIG_FILE: '' })).toEqual([]);
    });
  });

  it('infers mysql or postgres from DATABASE_URL', () => {
    expect(load({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/ids' }).DB_TYPE).toBe('mysql');
    expect(load({ DATABASE_URL: 'mariadb://root@127.0.0.1:3306/ids' }).DB_TYPE).toBe('mysql');
    expect(load({ DATABASE_URL: 'postgres://u:p@h1:5432,h2:5432/ids' }).DB_TYPE).toBe('postgres');
    expect(load({ DATABASE_URL: 'postgresql://root@127.0.0.1/ids' }).DB_TYPE).toBe('postgres');
    expect(load({ DATABASE_URL: 'postgres://root@127.0.0.1/ids', PARTITIONS: '[{"idx":1,"total":2,"url":"postgres://h/a"},{"idx":2,"total":2,"url":"postgresql://h/b"}]' }).PARTITIONS).toHaveLength(2);
    expect(load({ DATABASE_URL: 'mysql://root@127.0.0.1:3306/ids', DB_TYPE: 'sqlite' }).DB_TYPE).toBe('sqlite');
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT: must be an integer from 0 to 65535 \(got "abc" from environment\)$/],
    [{ PORT: '70000' }, /^PORT: /],
    [{ PORT: '80.5' }, /^PORT: /],
    [{ MAX_COUNT: '0' }, /^MAX_COUNT: /],
    [{ WORKERS: '-1' }, /^WORKERS: /],
    [{ DB_TYPE: 'oracle' }, /^DB_TYPE: must be sqlite, mysql or postgres \(got "oracle" from environment\)$/],
    [{ DB_TYPE: 'postgres' }, /^DATABASE_URL: is required when DB_TYPE=postgres$/],
    [{ DB_TYPE: 'postgres', DATABASE_URL: 'mysql://h/ids' }, /^DB_TYPE: is postgres but DATABASE_URL names a mysql database/],
    [{ DB_TYPE: 'mysql' }, /^DATABASE_URL: is required when DB_TYPE=mysql$/],
    [{ DATABASE_URL: 'mysql:/x' }, /^DATABASE_URL: must look like mysql:\/\//],
    [{ DATABASE_URL: 'postgres:/u:p@db:5432' }, /^DATABASE_URL: must look like mysql:\/\/.* or postgres:\/\/user:pass@host:5432\/db \(PostgreSQL\) \(value not shown, from environment\)$/],
    [{ PARTITIONS: '[{"idx":1,"total":1,"url":"redis://h/db"}]' }, /^PARTITIONS: url must be a mysql:\/\/ or postgres:\/\/ URL/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of/],
    [{ SEGMENT_PRELOAD: '1.5' }, /^SEGMENT_PRELOAD: /],
    [{ SEGMENT_DYNAMIC_STEP: 'maybe' }, /^SEGMENT_DYNAMIC_STEP: must be true or false/],
    [{ SNOWFLAKE_BITS: '41,10' }, /^SNOWFLAKE_BITS: /],
    [{ SNOWFLAKE_EPOCH: 'yesterday' }, /^SNOWFLAKE_EPOCH: /],
    [{ SNOWFLAKE_WORKER_ID: 'any' }, /^SNOWFLAKE_WORKER_ID: /],
    [{ SNOWFLAKE_RENEW_MS: '2000' }, /^SNOWFLAKE_RENEW_MS: must be at most half/],
    [{ ADMIN_TOKEN: 'short' }, /^ADMIN_TOKEN: must be at least 16/],
    [{ PARTITIONS: 'not json' }, /^PARTITIONS: /],
    [{ PARTITIONS: '[{"idx":3,"total":2,"url":"mysql://h/db"}]' }, /^PARTITIONS: each idx must be <= its total/],
  ])('rejects %j with one line naming the variable', (env, pattern) => {
    const message = failure(env);
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  });

  it('takes the environment over the file, and the file over the defaults', () => {
    files['/etc/ids.json'] = JSON.stringify({ PORT: 9000, MAX_COUNT: 50, LOG_LEVEL: 'debug' });
    const c = load({ PORT: '9100' }, ['--config', '/etc/ids.json']);
    expect(c.PORT).toBe(9100); // environment
    expect(c.MAX_COUNT).toBe(50); // file
    expect(c.LOG_LEVEL).toBe('debug'); // file
    expect(c.WORKERS).toBe(1); // default
    // an empty environment value counts as unset
    expect(load({ PORT: '' }, ['--config=/etc/ids.json']).PORT).toBe(9000);
  });

  it('reads CONFIG_FILE when no --config is given, --config wins over it', () => {
    files['/a.json'] = '{"PORT": 1111}';
    files['/b.json'] = '{"PORT": 2222}';
    expect(load({ CONFIG_FILE: '/a.json' }).PORT).toBe(1111);
    expect(load({ CONFIG_FILE: '/a.json' }, ['--config', '/b.json']).PORT).toBe(2222);
  });

  it('names a bad value in the file and where it came from', () => {
    files['/bad.json'] = '{"PORT": "http"}';
    expect(failure({}, ['--config', '/bad.json'])).toBe('PORT: must be an integer from 0 to 65535 (got "http" from config file /bad.json)');
  });

  it('rejects an unknown setting, broken JSON and a missing file in one line', () => {
    files['/typo.json'] = '{"PROT": 1}';
    files['/broken.json'] = '{"PORT": ';
    expect(failure({}, ['--config', '/typo.json'])).toMatch(/^PROT: not a setting/);
    expect(failure({}, ['--config', '/broken.json'])).toMatch(/^config file \/broken.json: not valid JSON/);
    expect(failure({}, ['--config', '/nope.json'])).toMatch(/^config file \/nope.json: cannot be read \(ENOENT\)/);
    expect(failure({}, ['--config'])).toMatch(/^--config: needs a file path/);
    expect(failure({}, ['-config='])).toMatch(/^-config: needs a file path/);
  });

  it('accepts go-id-alloc\'s one-dash -config as well as --config, with a space or =', () => {
    files['/c.json'] = '{"PORT": 3333}';
    for (const argv of [['-config', '/c.json'], ['-config=/c.json'], ['--config', '/c.json'], ['--config=/c.json']]) {
      expect(load({}, argv).PORT).toBe(3333);
    }
  });

  it.each([[['start']], [['--port', '80']], [['-c', '/c.json']], [['--config', '/c.json', 'extra']], [['-config=/a', '--config=/b']]])(
    'refuses any other argument %j in one line',
    (argv) => {
      const message = failure({}, argv);
      expect(message).toMatch(/not understood; the only argument is the config file|given twice/);
      expect(message).not.toContain('\n');
    },
  );

  it('a bare start reads no file, not even ./alloc.json', () => {
    files['./alloc.json'] = '{"PORT": 1234}';
    files['alloc.json'] = '{"PORT": 1234}';
    expect(load({}, [])).toMatchObject({ DB_TYPE: 'sqlite', PORT: 8080 });
  });

  it('lets a translator read another product’s file format', () => {
    registerConfigFileTranslator((file) => ('HttpPortForTest' in file ? { PORT: file.HttpPortForTest } : undefined));
    files['/other.json'] = '{"HttpPortForTest": 7777}';
    expect(load({}, ['--config', '/other.json']).PORT).toBe(7777);
  });
});
