import cluster, { Worker } from 'node:cluster';
import type { Logger as Pino } from 'pino';
import { AppConfig, EXIT } from '@app/core';

const RESTART_DELAY_MS = 1000;

/**
 * WORKERS=N: N processes on one port (node:cluster). Each worker is a whole instance: its own
 * buffers, its own snowflake lease. The primary serves nothing. It forwards SIGTERM/SIGINT and
 * exits 0 once every worker closed cleanly (1 if one did not, or past the grace period); it
 * restarts a worker that crashes, but a worker's deliberate refusal (exit 2: bad configuration,
 * ID_SECRET mismatch, bad layout, clock behind its reservation) would only repeat, so it stops
 * the others and exits 2 itself: the orchestrator sees the refusal, not a silent restart loop.
 */
export function runPrimary(config: AppConfig, log: Pino): void {
  /** set once the primary is going down: the code it will exit with */
  let exitCode: number | null = null;
  const fork = (): Worker => cluster.fork();
  const alive = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());

  let stopSignal: NodeJS.Signals | undefined;
  const stopAll = (signal: NodeJS.Signals, code: number) => {
    exitCode = code;
    stopSignal = signal;
    for (const worker of alive()) worker.process.kill(signal);
    setTimeout(() => {
      log.error(`workers still running ${config.SHUTDOWN_GRACE_MS + 2000} ms after ${signal}: exiting`);
      process.exit(EXIT.FAILED);
    }, config.SHUTDOWN_GRACE_MS + 2000).unref();
    if (alive().length === 0) process.exit(code);
  };

  cluster.on('exit', (worker, code, signal) => {
    if (exitCode !== null) {
      // a worker still loading when the signal came dies of it: nothing to close, so clean too
      const clean = code === EXIT.CLEAN || (code === null && signal === stopSignal);
      if (!clean) {
        log.error(`worker ${worker.process.pid} exited with ${signal ?? code} while stopping`);
        if (exitCode === EXIT.CLEAN) exitCode = EXIT.FAILED;
      }
      if (alive().length === 0) process.exit(exitCode);
      return;
    }
    if (code === EXIT.REFUSED) {
      log.error(`worker ${worker.process.pid} refused to run (exit ${EXIT.REFUSED}; its message is above): stopping every worker`);
      stopAll('SIGTERM', EXIT.REFUSED);
      return;
    }
    log.warn(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(() => exitCode === null && fork(), RESTART_DELAY_MS);
  });
  for (let i = 0; i < config.WORKERS; i++) fork();
  log.info(`primary: ${config.WORKERS} workers on port ${config.PORT}`);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (exitCode !== null) return;
      log.info(`${signal}: stopping ${config.WORKERS} workers`);
      stopAll(signal, EXIT.CLEAN);
    });
  }
}

export const isPrimaryOf = (config: AppConfig): boolean => config.WORKERS > 1 && cluster.isPrimary;
