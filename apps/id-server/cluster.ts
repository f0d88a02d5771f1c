import cluster, { Worker } from 'node:cluster';
import type { Logger as Pino } from 'pino';
import { AppConfig, EXIT } from '@app/core';

const RESTART_DELAY_MS = 1000;

const STOP = 'id-allocator:stop';

/**
 * The primary's signal passed on to a listening worker as a message rather than a signal: the
 * worker may receive the signal itself too (Ctrl-C reaches the process group), and only signals
 * it received count as a repeated SIGTERM that skips the drain (see exitOnSignals in main.ts).
 */
const stopMessage = (now: boolean) => ({ [STOP]: now ? 'now' : 'drain' });

/** a message from the primary asking to stop: true to stop now, false to drain first */
export function stopRequest(message: unknown): boolean | undefined {
  const how = typeof message === 'object' && message !== null ? (message as Record<string, unknown>)[STOP] : undefined;
  return how === 'now' ? true : how === 'drain' ? false : undefined;
}

/**
 * WORKERS=N: N processes on one port (node:cluster). Each worker is a whole instance: its own
 * buffers, its own snowflake lease. The primary serves nothing. It passes SIGTERM/SIGINT on (a
 * SIGTERM drains each worker, a SIGINT or a second SIGTERM skips the drain) and exits 0 once every worker closed cleanly (1 if one did not, or past the grace period); it
 * restarts a worker that crashes, but a worker's deliberate refusal (exit 2: bad configuration,
 * ID_SECRET mismatch, bad layout, clock behind its reservation) would only repeat, so it stops
 * the others and exits 2 itself: the orchestrator sees the refusal, not a silent restart loop.
 */
export function runPrimary(config: AppConfig, log: Pino): void {
  /** set once the primary is going down: the code it will exit with */
  let exitCode: number | null = null;
  const fork = (): Worker => cluster.fork();
  const alive = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());

  /** workers that listen, so have their signal handlers installed (see exitOnSignals in main.ts) */
  const listening = new Set<number>();
  cluster.on('listening', (worker) => listening.add(worker.id));
  const tell = (worker: Worker, now: boolean) =>
    worker.send(stopMessage(now), undefined, (e) => e && log.warn(`worker ${worker.process.pid}: stop message not delivered (${e.message})`));

  let stopSignal: NodeJS.Signals | undefined;
  const stopAll = (signal: NodeJS.Signals, code: number) => {
    exitCode = code;
    stopSignal = signal;
    // one still loading has no handler yet and dies of the signal (see 'exit' below)
    for (const worker of alive()) {
      if (listening.has(worker.id) && worker.isConnected()) tell(worker, signal === 'SIGINT');
      else worker.process.kill(signal);
    }
    const limit = config.SHUTDOWN_DRAIN_MS + config.SHUTDOWN_GRACE_MS + 2000;
    setTimeout(() => {
      log.error(`workers still running ${limit} ms after ${signal}: exiting`);
      process.exit(EXIT.FAILED);
    }, limit).unref();
    if (alive().length === 0) process.exit(code);
  };

  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
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
      if (exitCode === null) {
        log.info(`${signal}: stopping ${config.WORKERS} workers`);
        stopAll(signal, EXIT.CLEAN);
        return;
      }
      // a repeat while stopping: the workers skip what remains of their drain
      log.info(`${signal} again: workers stop without waiting out the drain`);
      for (const worker of alive()) if (worker.isConnected()) tell(worker, true);
    });
  }
}

export const isPrimaryOf = (config: AppConfig): boolean => config.WORKERS > 1 && cluster.isPrimary;
