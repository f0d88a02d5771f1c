import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** reads a file's text, or undefined when it does not exist (a fake in tests) */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** quota / period of one cgroup v2 `cpu.max` ("max 100000" or "200000 100000") */
function v2Limit(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  if (quota === undefined || quota === 'max' || !period) return undefined;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

function v1Limit(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number((quota ?? '').trim());
  const p = Number((period ?? '').trim());
  return q > 0 && p > 0 ? q / p : undefined;
}

/**
 * The CPUs the cgroup CPU quota allows this process (cgroup v2 `cpu.max` of its own cgroup and
 * every parent, or v1 `cpu.cfs_quota_us / cpu.cfs_period_us`), or undefined without a quota.
 */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  const lines = (read('/proc/self/cgroup') ?? '').split('\n');
  const limits: number[] = [];
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 !== undefined) {
    // the own cgroup and each parent up to the root: the smallest quota binds
    let path = v2.slice(3).trim().replace(/\/$/, '');
    for (;;) {
      const limit = v2Limit(read(`/sys/fs/cgroup${path}/cpu.max`));
      if (limit !== undefined) limits.push(limit);
      if (path === '') break;
      path = path.slice(0, path.lastIndexOf('/'));
    }
  }
  const v1 = lines.find((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l));
  if (v1 !== undefined) {
    const path = v1.slice(v1.lastIndexOf(':') + 1).trim().replace(/\/$/, '');
    for (const dir of [`/sys/fs/cgroup/cpu${path}`, '/sys/fs/cgroup/cpu', `/sys/fs/cgroup/cpu,cpuacct${path}`]) {
      const limit = v1Limit(read(`${dir}/cpu.cfs_quota_us`), read(`${dir}/cpu.cfs_period_us`));
      if (limit !== undefined) limits.push(limit);
    }
  }
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/**
 * WORKERS=auto: one process per CPU this process may use, os.availableParallelism() capped by
 * the cgroup CPU quota, so a pod limited to 2 CPUs on a 64-core node runs 2 workers. A fractional
 * quota rounds down (1.5 CPUs: 1 worker; a second would be throttled), never below 1.
 */
export function autoWorkers(cpus: number = availableParallelism(), quota: number | undefined = cgroupCpuLimit()): number {
  const byQuota = quota === undefined ? cpus : Math.floor(quota);
  return Math.max(1, Math.min(cpus, byQuota, 64));
}
