import { ChildProcess } from 'node:child_process';

/**
 * Every child process a test file starts. A test that throws between starting a process and
 * handing it to its own clean-up (a second server that failed to come up, a readiness wait
 * that timed out) would leave the process running, and a running child keeps jest from
 * exiting: CI then waits out its whole time limit. The file's last afterAll (setup-file.ts)
 * kills whatever is still here.
 */
const running = new Set<ChildProcess>();

export function tracked<C extends ChildProcess>(child: C): C {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** kills every child still running; resolves once they have all exited */
export async function killLeftovers(): Promise<number> {
  const left = [...running].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    left.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  running.clear();
  return left.length;
}
