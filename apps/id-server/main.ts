import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { Logger as Pino } from 'pino';
import { AppConfig, ConfigError, describeDatabase, EXIT, loadConfig, StartupError } from '@app/core';
import { createApp } from './bootstrap';
import { isPrimaryOf, runPrimary } from './cluster';
import { createRootLogger } from './logging';
import { readyLine } from './ready-line';

/** A start-up failure: one line on stderr, whatever LOG_FORMAT says (the config may be what failed). */
function refuse(message: string): never {
  process.stderr.write(`id-allocator: ${message}\n`);
  process.exit(EXIT.REFUSED);
}

function configOrExit(): AppConfig {
  try {
    return loadConfig({
      env: process.env,
      argv: process.argv.slice(2),
      warn: (line) => process.stderr.write(`id-allocator: warning: ${line}\n`),
    });
  } catch (e) {
    if (e instanceof ConfigError) refuse(`invalid configuration: ${e.message}`);
    throw e;
  }
}

/** Where to point a browser: a wildcard bind address is reached as localhost. */
function publicUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/**
 * SIGTERM/SIGINT: close (stop taking requests, drain, release leases) and exit 0; past
 * SHUTDOWN_GRACE_MS exit 1. The signal is not re-raised. Installed before the app is built, so
 * a signal during start-up closes the app as soon as it exists instead of killing the process.
 */
function exitOnSignals(config: AppConfig, log: Pino): (close: () => Promise<void>) => void {
  let close: (() => Promise<void>) | undefined;
  let signalled: NodeJS.Signals | undefined;
  const run = () => {
    close!().then(
      () => {
        log.info('closed cleanly');
        process.exit(EXIT.CLEAN);
      },
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(EXIT.FAILED);
      },
    );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      // a terminal's Ctrl-C reaches a WORKERS primary and its workers alike, and the primary
      // forwards it too: a repeated signal is no news
      if (signalled !== undefined) return;
      signalled = signal;
      log.info(`${signal}: closing (at most SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms)`);
      // from the signal on, start-up included; the orchestrator's own grace period is set to match
      setTimeout(() => {
        log.error(`shutdown took longer than SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms: exiting`);
        process.exit(EXIT.FAILED);
      }, config.SHUTDOWN_GRACE_MS).unref();
      if (close !== undefined) run();
    });
  }
  return (fn) => {
    close = fn;
    if (signalled !== undefined) run();
  };
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createRootLogger(config, isPrimaryOf(config) ? { role: 'primary' } : {});
  if (isPrimaryOf(config)) {
    runPrimary(config, log);
    return;
  }
  const closeOnSignal = exitOnSignals(config, log);
  const app = await createApp(config, { logger: log });
  closeOnSignal(() => app.close());
  try {
    await app.listen(config.PORT, config.HOST);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : 'no such address here';
      throw new StartupError(`PORT/HOST: cannot listen on ${config.HOST}:${config.PORT}: ${why}. To do: stop what uses it or set another PORT (or HOST).`);
    }
    throw e;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = publicUrl(config.HOST, port);
  if (config.DB_TYPE === 'sqlite') {
    log.warn(
      `embedded SQLite at ${config.SQLITE_PATH}: serves this host only; instances on other hosts with their own file would repeat ids (use DATABASE_URL=mysql://... for several hosts)`,
    );
  }
  log.info(readyLine(url, `${config.HOST}:${port}`, describeDatabase(config)));
}

main().catch((e) => {
  // a setting found wrong only against the database (SEGMENT_TABLE's columns)
  if (e instanceof ConfigError) refuse(`invalid configuration: ${e.message}`);
  if (e instanceof StartupError) refuse(`cannot start: ${e.message}`);
  process.stderr.write(`id-allocator: failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(EXIT.FAILED);
});
