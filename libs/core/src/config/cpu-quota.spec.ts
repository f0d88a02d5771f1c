import { autoWorkers, cgroupCpuLimit } from './cpu-quota';

const files = (map: Record<string, string>) => (path: string) => map[path];

describe('WORKERS=auto', () => {
  it('reads a cgroup v2 quota of the own cgroup', () => {
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '200000 100000\n' }))).toBe(2);
  });

  it('takes the smallest quota up the v2 hierarchy, and none for "max"', () => {
    const read = files({
      '/proc/self/cgroup': '0::/a/b\n',
      '/sys/fs/cgroup/a/b/cpu.max': 'max 100000',
      '/sys/fs/cgroup/a/cpu.max': '150000 100000',
      '/sys/fs/cgroup/cpu.max': 'max 100000',
    });
    expect(cgroupCpuLimit(read)).toBe(1.5);
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000' }))).toBeUndefined();
  });

  it('reads a cgroup v1 quota (-1: none)', () => {
    const v1 = (quota: string) =>
      files({ '/proc/self/cgroup': '3:cpu,cpuacct:/docker/x\n', '/sys/fs/cgroup/cpu/docker/x/cpu.cfs_quota_us': quota, '/sys/fs/cgroup/cpu/docker/x/cpu.cfs_period_us': '100000' });
    expect(cgroupCpuLimit(v1('300000'))).toBe(3);
    expect(cgroupCpuLimit(v1('-1'))).toBeUndefined();
  });

  it('caps the CPU count by the quota, rounding down, at least 1', () => {
    expect(autoWorkers(64, 2)).toBe(2);
    expect(autoWorkers(64, 1.5)).toBe(1);
    expect(autoWorkers(64, 0.5)).toBe(1);
    expect(autoWorkers(4, undefined)).toBe(4);
    expect(autoWorkers(2, 8)).toBe(2);
  });
});
