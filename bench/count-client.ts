import { connect } from 'node:net';

/**
 * Exactly N GET requests over C keep-alive connections, closed loop, then exit: the load for
 * bench/instructions.sh, where a count (not a duration) must be fixed so two targets' instruction
 * totals compare. Bounded: gives up after 10 minutes (exit 1).
 * Usage: node count-client.js PORT PATH N [CONNECTIONS=10] -> {"done":N,"bad":non-200 answers}
 */
const [port, path, total, connections] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5] ?? 10)];
const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n`);
let sent = 0;
let done = 0;
let bad = 0;
const finish = (code: number) => {
  process.stdout.write(JSON.stringify({ done, bad }) + '\n');
  process.exit(code);
};
for (let c = 0; c < connections; c++) {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  let buffered = '';
  const next = () => (sent < total ? (sent++, socket.write(request)) : socket.end());
  socket.on('connect', next);
  socket.on('error', () => finish(1));
  socket.on('data', (d) => {
    buffered += d.toString('latin1');
    for (;;) {
      const head = buffered.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, head))?.[1] ?? 0);
      if (buffered.length < head + 4 + length) return;
      if (!buffered.startsWith('HTTP/1.1 200')) bad++;
      buffered = buffered.slice(head + 4 + length);
      if (++done === total) finish(0);
      next();
    }
  });
}
setTimeout(() => finish(1), 600_000).unref();
