import type { AppConfig } from '@app/core';
import { SnowflakeLayout, SnowflakeLayoutError } from './snowflake-layout';
import { WorkerIdSetting } from './worker-lease';

/**
 * The worker id setting from SNOWFLAKE_WORKER_ID / SNOWFLAKE_WORKER_IDS, checked against the
 * layout: `lease` (default) takes any free id of the pool, a number is a static id, `ordinal`
 * is the number after the last `-` of the host name (a StatefulSet pod `ids-3` is 3).
 */
export function workerIdSetting(
  config: Pick<AppConfig, 'SNOWFLAKE_WORKER_ID' | 'SNOWFLAKE_WORKER_IDS' | 'WORKERS'>,
  layout: SnowflakeLayout,
  hostname: string,
): WorkerIdSetting {
  const max = layout.maxWorkerId;
  const mode = config.SNOWFLAKE_WORKER_ID.trim();
  if (mode === 'lease') {
    let from = 0;
    let to = max;
    if (config.SNOWFLAKE_WORKER_IDS !== undefined) {
      const [a, b] = config.SNOWFLAKE_WORKER_IDS.split('-').map((s) => Number(s.trim()));
      from = a;
      to = b ?? a;
      if (from > to) throw new SnowflakeLayoutError(`SNOWFLAKE_WORKER_IDS: ${from}-${to} is empty (the first id is above the last)`);
      if (to > max) {
        throw new SnowflakeLayoutError(
          `SNOWFLAKE_WORKER_IDS: ${from}-${to} goes past ${max}, the largest worker id of a ${layout.workerBits}-bit worker field`,
        );
      }
    }
    return { mode: 'lease', from, to };
  }
  if (config.WORKERS > 1) {
    throw new SnowflakeLayoutError(
      `SNOWFLAKE_WORKER_ID: a ${mode === 'ordinal' ? 'per-host (ordinal)' : 'static'} worker id cannot serve WORKERS=${config.WORKERS} processes (they would repeat ids); use SNOWFLAKE_WORKER_ID=lease`,
    );
  }
  let workerId: number;
  if (mode === 'ordinal') {
    const m = /-(\d+)$/.exec(hostname);
    if (!m) {
      throw new SnowflakeLayoutError(
        `SNOWFLAKE_WORKER_ID=ordinal: the host name "${hostname}" does not end in -<number> (as a StatefulSet pod name does); set HOSTNAME or use lease`,
      );
    }
    workerId = Number(m[1]);
  } else {
    workerId = Number(mode);
  }
  if (!Number.isSafeInteger(workerId) || workerId > max) {
    throw new SnowflakeLayoutError(
      `SNOWFLAKE_WORKER_ID: ${workerId}${mode === 'ordinal' ? ` (from host name "${hostname}")` : ''} is above ${max}, the largest worker id of a ${layout.workerBits}-bit worker field`,
    );
  }
  return { mode: mode === 'ordinal' ? 'ordinal' : 'static', workerId };
}

/** The layout, refused when it cannot issue now (bad widths, epoch ahead, past end of life). */
export function snowflakeLayout(config: Pick<AppConfig, 'SNOWFLAKE_BITS' | 'SNOWFLAKE_EPOCH'>, nowMs: number): SnowflakeLayout {
  const layout = SnowflakeLayout.parse(config.SNOWFLAKE_BITS, config.SNOWFLAKE_EPOCH);
  layout.assertUsableAt(nowMs);
  return layout;
}
