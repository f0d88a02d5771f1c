import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { AppConfig, ConfigError, loadConfig } from '@app/core';
import { StartupError } from '@app/database';
import { createApp } from './bootstrap';
import { isPrimaryOf, runPrimary } from './cluster';

function configOrExit(): AppConfig {
  try {
    return loadConfig({ env: process.env, argv: process.argv.slice(2) });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`id-allocator: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  if (isPrimaryOf(config)) {
    runPrimary(config, (line) => process.stderr.write(`id-allocator primary ${process.pid}: ${line}\n`));
    return;
  }
  const app = await createApp(config);
  // A close that outlives the grace period (a stuck client, a hung database) must not keep the
  // process alive forever; the orchestrator's own grace period is set to match.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS).unref());
  }
  await app.listen(config.PORT, config.HOST);
  if (config.DB_TYPE === 'sqlite') {
    app
      .get(Logger)
      .warn(
        `embedded SQLite at ${config.SQLITE_PATH}: serves this host only; instances on other hosts with their own file would repeat ids (use DATABASE_URL=mysql://... for several hosts)`,
      );
  }
}

main().catch((e) => {
  if (e instanceof StartupError) {
    process.stderr.write(`id-allocator: cannot start: ${e.message}\n`);
    process.exit(2); // a start-up refusal, as DESIGN.md's exit codes say
  }
  process.stderr.write(`id-allocator: failed to start: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
