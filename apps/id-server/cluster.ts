import cluster, { Worker } from 'node:cluster';
import type { AppConfig } from '@app/core';

const RESTART_DELAY_MS = 1000;

/**
 * WORKERS=N: N processes on one port (node:cluster). Each worker is a whole instance: its own
 * buffers, its own snowflake lease. The primary serves nothing; it forwards SIGTERM/SIGINT,
 * waits for every worker to close cleanly, and restarts a worker that dies on its own.
 */
export function runPrimary(config: AppConfig, log: (line: string) => void): void {
  let stopping = false;
  const fork = (): Worker => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    setTimeout(fork, RESTART_DELAY_MS);
  });
  for (let i = 0; i < config.WORKERS; i++) fork();
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping ${config.WORKERS} workers`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS + 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export const isPrimaryOf = (config: AppConfig): boolean => config.WORKERS > 1 && cluster.isPrimary;
