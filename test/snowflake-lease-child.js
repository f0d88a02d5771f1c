/*
 * One contender of the "20 processes acquiring at once" test: opens the database, says "ready",
 * waits for "go" on stdin (the barrier: the test writes it to every child at once), takes a
 * worker id through the real WorkerLease and store, prints it, and holds it until "release".
 * Plain JavaScript on the build (dist/), like the server processes.
 */
require('reflect-metadata');
const { join } = require('node:path');
const dist = join(__dirname, '../dist/libs');
const { dataSourceOptions, newDataSource } = require(join(dist, 'database/src/data-source-options'));
const { openSqlPool } = require(join(dist, 'database/src/open-sql-pool'));
const { loadConfig } = require(join(dist, 'core/src/config/load-config'));
const { systemClock } = require(join(dist, 'core/src/clock'));
const { WorkerLease } = require(join(dist, 'snowflake/src/worker-lease'));
const { SqliteWorkerLeaseStore } = require(join(dist, 'snowflake/src/worker-lease.sqlite'));
const { MysqlWorkerLeaseStore } = require(join(dist, 'snowflake/src/worker-lease.mysql'));
const { PgWorkerLeaseStore } = require(join(dist, 'snowflake/src/worker-lease.postgres'));

async function main() {
  const config = loadConfig({ env: process.env });
  const dataSource = await newDataSource(dataSourceOptions(config)).initialize();
  const pool = config.DB_TYPE === 'sqlite' ? null : openSqlPool(config.DATABASE_URL, { connectionLimit: 1 });
  const store = !pool ? new SqliteWorkerLeaseStore(dataSource) : pool.dialect === 'postgres' ? new PgWorkerLeaseStore(pool) : new MysqlWorkerLeaseStore(pool);
  const [from, to] = (process.env.SNOWFLAKE_WORKER_IDS || '0-1023').split('-').map(Number);
  const lease = new WorkerLease({
    store,
    clock: systemClock,
    setting: { mode: 'lease', from, to },
    claimant: { instanceId: `child-${process.pid}-${Date.now()}`, host: 'test', pid: process.pid },
    leaseMs: config.SNOWFLAKE_LEASE_MS,
    reserveMs: config.SNOWFLAKE_RESERVE_MS,
    maxSkewMs: config.SNOWFLAKE_MAX_SKEW_MS,
    renewMs: config.SNOWFLAKE_RENEW_MS,
    startWaitMs: config.SNOWFLAKE_START_WAIT_MS,
    onFatal: (m) => process.stdout.write(JSON.stringify({ fatal: m }) + '\n'),
  });
  const lines = require('node:readline').createInterface({ input: process.stdin });
  const waitFor = (word) => new Promise((resolve) => lines.on('line', (l) => l.trim() === word && resolve()));
  const go = waitFor('go');
  const release = waitFor('release');
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  await go;
  const started = Date.now();
  await lease.start();
  // a transient failure (a lock conflict retried past its budget) is retried by the lease itself
  while (lease.workerId === null && Date.now() - started < 15000) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write(JSON.stringify({ workerId: lease.workerId, ms: Date.now() - started, reason: lease.workerId === null ? lease.reason(Date.now()) : undefined }) + '\n');
  await release;
  await lease.stop();
  await pool?.end();
  await dataSource.destroy();
  process.exit(0);
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String((e && e.stack) || e) }) + '\n');
  process.exit(1);
});
