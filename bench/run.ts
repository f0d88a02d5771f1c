import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInProcess } from './in-process';
import { table } from './measure';

/** npm run bench: every figure beside its baseline from the same run. */
async function main(): Promise<void> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const started = new Date();
  const inProcess = runInProcess(log);
  const report = [
    `# id-allocator benchmark`,
    ``,
    `Node ${process.version}, ${new Date().toISOString()}, ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0]?.model ?? '?'})`,
    ``,
    `## In-process ids/s (median of 5 interleaved rounds)`,
    ``,
    table(inProcess, 'crypto.randomUUID()'),
    ``,
    `took ${Math.round((Date.now() - started.getTime()) / 1000)} s`,
  ].join('\n');
  const dir = join(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), report + '\n');
  process.stdout.write(report + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(1);
});
