import { durabilityWarnings, pgDurabilityWarnings, readOnlyExemption } from './startup-check';

const MARIADB = '10.11.19-MariaDB-0+deb12u1';

describe('readOnlyExemption: a user that can write while read_only is ON', () => {
  it.each([
    [MARIADB, ['GRANT ALL PRIVILEGES ON *.* TO `root`@`127.0.0.1` WITH GRANT OPTION'], 'ALL PRIVILEGES'],
    [MARIADB, ['GRANT READ_ONLY ADMIN ON *.* TO `ops`@`%`'], 'READ_ONLY ADMIN'],
    [MARIADB, ['GRANT SELECT, READ_ONLY ADMIN, PROCESS ON *.* TO `ops`@`%`'], 'READ_ONLY ADMIN'],
    // SUPER stopped including READ_ONLY ADMIN in MariaDB 10.11
    [MARIADB, ['GRANT SUPER ON *.* TO `ops`@`%`'], null],
    ['10.6.16-MariaDB', ['GRANT SUPER ON *.* TO `ops`@`%`'], 'SUPER'],
    ['8.0.36', ['GRANT SUPER ON *.* TO `ops`@`%`'], 'SUPER'],
    ['8.0.36', ['GRANT USAGE ON *.* TO `ids`@`%`', 'GRANT CONNECTION_ADMIN ON *.* TO `ids`@`%`'], 'CONNECTION_ADMIN'],
    // grants on the database alone: the user the docs ask for
    [MARIADB, ['GRANT USAGE ON *.* TO `ids`@`%` IDENTIFIED BY PASSWORD \'*X\'', 'GRANT ALL PRIVILEGES ON `ids`.* TO `ids`@`%`'], null],
    ['8.0.36', ['GRANT ALL PRIVILEGES ON `ids`.* TO `ids`@`%`'], null],
    // a privilege whose name only contains the word
    [MARIADB, ['GRANT SUPERVISOR_THING, SELECT ON *.* TO `x`@`%`'], null],
  ])('%s %j -> %s', (version, grants, expected) => {
    expect(readOnlyExemption({ version, grants })).toBe(expected);
  });
});

describe('durabilityWarnings: settings that acknowledge commits a crash can lose', () => {
  it('none with both at 1, or sync_binlog off without a binary log', () => {
    expect(durabilityWarnings({ innodbFlushLogAtTrxCommit: '1', syncBinlog: '1', logBin: '1' }, 'h:3306')).toEqual([]);
    expect(durabilityWarnings({ innodbFlushLogAtTrxCommit: '1', syncBinlog: '0', logBin: '0' }, 'h:3306')).toEqual([]);
  });

  it('one line per setting, naming it, its value and the host', () => {
    const lines = durabilityWarnings({ innodbFlushLogAtTrxCommit: '2', syncBinlog: '0', logBin: '1' }, 'db1:3306');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^db1:3306: innodb_flush_log_at_trx_commit=2: acknowledged commits can be lost on a crash.*set innodb_flush_log_at_trx_commit=1/);
    expect(lines[1]).toMatch(/^db1:3306: sync_binlog=0: .*set sync_binlog=1/);
    expect(durabilityWarnings({ innodbFlushLogAtTrxCommit: '0', syncBinlog: '1', logBin: '1' }, 'h:1')).toHaveLength(1);
  });
});

describe('pgDurabilityWarnings: PostgreSQL settings that acknowledge commits a crash can lose', () => {
  it('says nothing for fsync on, synchronous_commit on/local/remote_apply, full_page_writes on', () => {
    for (const synchronousCommit of ['on', 'local', 'remote_write', 'remote_apply']) {
      expect(pgDurabilityWarnings({ fsync: 'on', synchronousCommit, fullPageWrites: 'on' }, 'h:5432')).toEqual([]);
    }
  });

  it('one line per weak setting, naming the host and the fix', () => {
    const lines = pgDurabilityWarnings({ fsync: 'off', synchronousCommit: 'off', fullPageWrites: 'off' }, 'pg1:5432');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^pg1:5432: fsync=off: .* To do: set fsync=on/);
    expect(lines[1]).toMatch(/^pg1:5432: synchronous_commit=off: acknowledged commits can be lost on a crash.* To do: set synchronous_commit=on/);
    expect(lines[2]).toMatch(/^pg1:5432: full_page_writes=off: /);
  });
});
