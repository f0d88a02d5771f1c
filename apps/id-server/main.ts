import 'reflect-metadata';
import cluster from 'node:cluster';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { Logger as Pino } from 'pino';
import { AppConfig, ConfigError, describeDatabase, EXIT, loadConfig, StartupError } from '@app/core';
import { createApp, startDrain, stopListening } from './bootstrap';
import { isPrimaryOf, runPrimary, stopRequest } from './cluster';
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

/** The one-line refusal for a listen that failed in a way the operator can fix; undefined for others. */
function listenRefusal(config: AppConfig, e: unknown): StartupError | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') return undefined;
  const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : 'no such address here';
  return new StartupError(`PORT/HOST: cannot listen on ${config.HOST}:${config.PORT}: ${why}. To do: stop what uses it or set another PORT (or HOST).`);
}

/**
 * Binds HOST:PORT once and lets it go, before the app is built. Why: building the app takes a
 * snowflake worker id in the shared database (SnowflakeModule's init) and logs start-up steps;
 * a process that then cannot listen would have held a worker id and printed lines for nothing.
 * Binding the same way listen does (same call, same flags) refuses exactly what listen would.
 * With WORKERS > 1 the primary checks once, before it
 * forks, and the workers do not: a worker's probe goes through the primary's shared handle, and a
 * probe closed as the next worker's arrived could leave that worker's listen unanswered for good
 * (seen: one worker of two never started). A port taken in the moment between the two still
 * fails at listen with the same line; its lease then lapses like any unreleased one. PORT=0
 * (any free port) needs no check.
 */
async function checkCanListen(config: AppConfig): Promise<void> {
  if (config.PORT === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(config.PORT, config.HOST, () => resolve());
    });
  } catch (e) {
    throw listenRefusal(config, e) ?? e;
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** What a signal handler needs of the app. */
interface Stoppable {
  /** listening: a signal before then has nothing to drain */
  serving(): boolean;
  drain(): void;
  /** after a drain: stop listening and let what is in flight finish, before close */
  stopListening(): Promise<void>;
  close(): Promise<void>;
}

/**
 * SIGTERM: drain for SHUTDOWN_DRAIN_MS (readiness 503 at once, every answer closing its
 * connection, see startDrain), then stop listening, close idle connections, finish what is in
 * flight (stopListening), close the app (release leases) and exit 0; past SHUTDOWN_GRACE_MS of closing, exit 1. The signal
 * is not re-raised.
 *
 * SIGINT, or a second SIGTERM, skips what remains of the drain and closes at once. Chosen so:
 * Ctrl-C is a person at a terminal, and a repeated SIGTERM an operator who wants the process gone
 * now; neither should wait out a drain meant for balancers. An orchestrator sends one SIGTERM and
 * waits. With WORKERS > 1 the primary passes its signals on as messages (see cluster.ts), so a
 * worker that also receives the signal itself (Ctrl-C reaches the whole process group, and so
 * does systemd's control-group kill) counts only the signals it received as repeats.
 *
 * Installed before the app is built, so a signal during start-up closes the app as soon as it
 * exists (no drain: nothing routes to an instance that never became ready) instead of killing the
 * process; the grace period then runs from the signal.
 */
function exitOnSignals(config: AppConfig, log: Pino): (app: Stoppable) => void {
  let app: Stoppable | undefined;
  let stopAsked = false;
  let drainTimer: NodeJS.Timeout | undefined;
  let closing = false;
  let graceArmed = false;
  let sigterms = 0;

  const armGrace = () => {
    if (graceArmed) return;
    graceArmed = true;
    setTimeout(() => {
      log.error(`shutdown took longer than SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms: exiting`);
      process.exit(EXIT.FAILED);
    }, config.SHUTDOWN_GRACE_MS).unref();
  };
  const close = () => {
    closing = true;
    const drained = drainTimer !== undefined;
    clearTimeout(drainTimer);
    armGrace();
    (drained ? app!.stopListening() : Promise.resolve())
      .then(() => app!.close())
      .then(
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
  const stop = (now: boolean, why: string) => {
    if (closing) return;
    if (app === undefined) {
      if (!stopAsked) log.info(`${why} during start-up: closing once started (at most SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms)`);
      stopAsked = true;
      armGrace();
      return;
    }
    if (drainTimer !== undefined) {
      // already draining: only a request to stop now is news
      if (!now) return;
      log.info(`${why}: skipping the rest of the drain, closing (at most SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms)`);
      close();
      return;
    }
    if (now || config.SHUTDOWN_DRAIN_MS === 0 || !app.serving()) {
      log.info(`${why}: closing (at most SHUTDOWN_GRACE_MS=${config.SHUTDOWN_GRACE_MS} ms)`);
      close();
      return;
    }
    log.info(`${why}: draining for SHUTDOWN_DRAIN_MS=${config.SHUTDOWN_DRAIN_MS} ms (not ready, still serving), then closing`);
    app.drain();
    drainTimer = setTimeout(close, config.SHUTDOWN_DRAIN_MS);
  };
  process.on('SIGTERM', () => stop(++sigterms > 1, sigterms > 1 ? 'second SIGTERM' : 'SIGTERM'));
  process.on('SIGINT', () => stop(true, 'SIGINT'));
  process.on('message', (message: unknown) => {
    const now = stopRequest(message);
    if (now !== undefined) stop(now, now ? 'the primary: stop now' : 'the primary: SIGTERM');
  });
  return (stoppable) => {
    app = stoppable;
    if (stopAsked) close();
  };
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createRootLogger(config, isPrimaryOf(config) ? { role: 'primary' } : {});
  if (isPrimaryOf(config)) {
    await checkCanListen(config);
    runPrimary(config, log);
    return;
  }
  const stopOnSignal = exitOnSignals(config, log);
  if (!cluster.isWorker) await checkCanListen(config);
  const app = await createApp(config, { logger: log });
  stopOnSignal({
    serving: () => (app.getHttpServer() as Server).listening,
    drain: () => startDrain(app),
    stopListening: () => stopListening(app),
    close: () => app.close(),
  });
  try {
    await app.listen(config.PORT, config.HOST);
  } catch (e) {
    throw listenRefusal(config, e) ?? e;
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = publicUrl(config.HOST, port);
  if (config.DB_TYPE === 'sqlite') {
    log.warn(
      `embedded SQLite at ${config.SQLITE_PATH}: serves this host only; instances on other hosts with their own file would repeat ids (use DATABASE_URL=mysql://... or postgres://... for several hosts)`,
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
